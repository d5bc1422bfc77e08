#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CorralCore
import Foundation

/// An exclusive lock on a state directory, so that two daemons never share one.
///
/// The lock is `flock(2)` on `<directory>/corrald.lock`, waited for at most
/// `acquireTimeout` (a previous daemon still exiting, or a child forked by this
/// process that shares the descriptor until it execs, holds it briefly). It is
/// advisory and tied to the open file description: it holds against every other
/// opener, in this process or another, and the kernel drops it when the holder
/// exits, however it exits, so a crashed daemon never leaves a stale lock behind.
/// The file holds the holder's pid, for people; the pid is never trusted.
///
/// Not inherited across `exec`: instance supervisors outlive the daemon and must
/// not keep its lock.
public final class StateDirectoryLock: @unchecked Sendable {
    public static let fileName = "corrald.lock"

    /// The directory this lock guards.
    public let directory: String
    /// The lock file.
    public let path: String

    // `@unchecked Sendable`: `descriptor` is only read or written while holding `mutex`.
    private let mutex = NSLock()
    private var descriptor: Int32?

    /// How long, in seconds, a lock held by someone else is waited for.
    public static let acquireTimeout: Double = 1

    /// Takes the lock, creating the lock file if needed.
    ///
    /// Throws `unavailable` ("failed to open state: another corrald is using
    /// `directory`") when someone else still holds it after `acquireTimeout`.
    public init(directory: String) throws(CorralError) {
        self.directory = directory
        self.path = (directory as NSString).appendingPathComponent(Self.fileName)

        let fd = Self.retryingOnInterrupt { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        guard fd >= 0 else {
            throw CorralError(
                .internal,
                "failed to open state: cannot open lock file \(path): \(Self.errnoDescription(errno))"
            )
        }
        let deadline = Date().addingTimeInterval(Self.acquireTimeout)
        var locked = Self.retryingOnInterrupt({ flock(fd, LOCK_EX | LOCK_NB) }) == 0
        var code = locked ? 0 : errno
        while !locked && code == EWOULDBLOCK && Date() < deadline {
            usleep(10_000)
            locked = Self.retryingOnInterrupt({ flock(fd, LOCK_EX | LOCK_NB) }) == 0
            code = locked ? 0 : errno
        }
        guard locked else {
            close(fd)
            if code == EWOULDBLOCK {
                throw .unavailable("failed to open state: another corrald is using \(directory)")
            }
            throw CorralError(
                .internal,
                "failed to open state: cannot lock \(path): \(Self.errnoDescription(code))"
            )
        }
        descriptor = fd
        Self.recordHolder(fd)
    }

    /// Whether this object still holds the lock.
    public var isHeld: Bool {
        mutex.withLock { descriptor != nil }
    }

    /// Gives the lock up. Idempotent.
    public func release() {
        let fd: Int32? = mutex.withLock {
            defer { descriptor = nil }
            return descriptor
        }
        if let fd { close(fd) }
    }

    deinit {
        if let descriptor { close(descriptor) }
    }

    private static func recordHolder(_ fd: Int32) {
        let text = Array("\(getpid())\n".utf8)
        guard ftruncate(fd, 0) == 0 else { return }
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    private static func retryingOnInterrupt(_ call: () -> Int32) -> Int32 {
        while true {
            let result = call()
            if result == -1 && errno == EINTR { continue }
            return result
        }
    }

    private static func errnoDescription(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
