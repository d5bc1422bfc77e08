#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Writes test programs that are run at once.
public enum ExecutableFile {
    public struct WriteFailed: Error, CustomStringConvertible {
        public let description: String
    }

    /// Writes `contents` to a new file at `path` with mode 0755. The descriptor is
    /// close-on-exec: a process another test forks while it is open must not keep
    /// it past its exec, or running the file fails with ETXTBSY ("Text file busy").
    public static func write(_ contents: [UInt8], to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        guard descriptor >= 0 else { throw WriteFailed(description: "open \(path): errno \(errno)") }
        defer { close(descriptor) }
        var written = 0
        while written < contents.count {
            let count = contents[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw WriteFailed(description: "write \(path): errno \(errno)") }
            written += count
        }
        guard fchmod(descriptor, 0o755) == 0 else { throw WriteFailed(description: "chmod \(path): errno \(errno)") }
    }
}
