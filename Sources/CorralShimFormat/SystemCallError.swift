#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call: which call, on which path if any, and its `errno`.
///
/// Lives here rather than in a host module because `corral-shim` links nothing but
/// this module and libc.
public struct SystemCallError: Error, Equatable, Sendable, CustomStringConvertible {
    public let call: String
    public let path: String?
    public let errno: Int32

    public init(_ call: String, path: String? = nil, errno: Int32) {
        self.call = call
        self.path = path
        self.errno = errno
    }

    /// Captures the calling thread's current `errno`.
    public static func last(_ call: String, path: String? = nil) -> SystemCallError {
        SystemCallError(call, path: path, errno: Glibc.errno)
    }

    /// `strerror` text for `errno`.
    public var reason: String { Self.describe(errno: errno) }

    public var description: String {
        if let path { return "\(call) \(path): \(reason)" }
        return "\(call): \(reason)"
    }

    /// `strerror` text for any errno value.
    public static func describe(errno: Int32) -> String {
        guard let text = strerror(errno) else { return "errno \(errno)" }
        return String(cString: text)
    }
}
