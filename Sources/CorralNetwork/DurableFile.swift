import CorralCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Crash-safe replacement of small state files, and advisory locks on them.
enum DurableFile {
    /// Replaces `path` with `bytes` so that after a crash or power loss it holds
    /// either the old content or the new one: write a temporary file beside it,
    /// fsync it, rename it over `path`, fsync the directory.
    static func replace(_ path: String, with bytes: [UInt8], mode: mode_t = 0o600) throws(CorralError) {
        let temporary = "\(path).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        if fd < 0 { throw failure("open", temporary) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                let error = failure("write", temporary)
                close(fd)
                unlink(temporary)
                throw error
            }
            offset += written
        }
        if fsync(fd) != 0 {
            let error = failure("fsync", temporary)
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        if rename(temporary, path) != 0 {
            let error = failure("rename", path)
            unlink(temporary)
            throw error
        }
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let directoryFD = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// Takes an exclusive `flock` on `path` (created if missing), retrying until
    /// `timeout` passes. The lock is held until the returned descriptor is closed.
    static func lockExclusively(_ path: String, timeout: Duration) throws(CorralError) -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0 { throw failure("open", path) }
        let deadline = ContinuousClock.now + timeout
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            guard code == EWOULDBLOCK else {
                close(fd)
                throw failure("flock", path)
            }
            if ContinuousClock.now >= deadline {
                close(fd)
                throw .timeout("failed to lock \(path): another process held it for more than \(timeout)")
            }
            usleep(5_000)
        }
        return fd
    }

    private static func failure(_ call: String, _ path: String) -> CorralError {
        let code = errno
        let reason = String(cString: strerror(code))
        return .internal("failed to \(call) \(path): \(reason) (errno \(code))")
    }
}
