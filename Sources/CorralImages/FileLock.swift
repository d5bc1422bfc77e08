#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CorralCore

/// An advisory `flock(2)` lock on a file, held shared or exclusive.
///
/// Each acquisition opens the file anew, so holders in one process exclude each
/// other exactly as holders in different processes do. The kernel drops the lock
/// when its holder dies. Waiting happens on a thread of its own.
struct FileLock: Sendable {
    enum Mode: Sendable {
        case shared
        case exclusive
    }

    let path: String

    /// Runs `body` while holding the lock in `mode`, releasing it however `body` ends.
    func withLock<T: Sendable>(
        _ mode: Mode, _ body: () async throws(CorralError) -> T
    ) async throws(CorralError) -> T {
        let fd = try await acquire(mode)
        defer { close(fd) }
        return try await body()
    }

    /// Runs `body` while holding the lock in `mode`, waiting on the calling thread.
    func withLockBlocking<T>(_ mode: Mode, _ body: () throws(CorralError) -> T) throws(CorralError) -> T {
        let fd = try open()
        defer { close(fd) }
        try Self.lock(fd, mode, path: path)
        return try body()
    }

    private func acquire(_ mode: Mode) async throws(CorralError) -> Int32 {
        let fd = try open()
        let operation = mode == .shared ? LOCK_SH : LOCK_EX
        if flock(fd, operation | LOCK_NB) == 0 { return fd }
        guard errno == EWOULDBLOCK || errno == EINTR else {
            let failure = Self.failure("flock", path: path)
            close(fd)
            throw failure
        }
        let path = self.path
        do throws(CorralError) {
            try await Blocking.run("corral-image-lock") { () throws(CorralError) in try Self.lock(fd, mode, path: path) }
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    private func open() throws(CorralError) -> Int32 {
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure("open", path: path) }
        return fd
    }

    private static func lock(_ fd: Int32, _ mode: Mode, path: String) throws(CorralError) {
        let operation = mode == .shared ? LOCK_SH : LOCK_EX
        while flock(fd, operation) != 0 {
            if errno == EINTR { continue }
            throw failure("flock", path: path)
        }
    }

    private static func failure(_ call: String, path: String) -> CorralError {
        .internal("failed to lock image store: \(call) \(path): \(String(cString: strerror(errno)))")
    }
}
