import CorralAgentProtocol
import Glibc

/// File access for the host.
enum GuestFiles {
    /// The whole of a regular file, at most `limit` bytes.
    static func read(path: String, limit: Int) throws(AgentSystemError) -> [UInt8] {
        let action = "read \(path)"
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw AgentSystemError(action, call: "open", path: path) }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) != 0 { throw AgentSystemError(action, call: "fstat", path: path) }
        if (info.st_mode & S_IFMT) != S_IFREG { throw AgentSystemError(action, call: "open", path: path, errno: EINVAL) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw AgentSystemError(action, call: "read", path: path)
            }
            if count == 0 { return contents }
            if contents.count + count > limit { throw AgentSystemError(action, call: "read", path: path, errno: EFBIG) }
            contents.append(contentsOf: chunk[0..<count])
        }
    }

    /// Replaces `request.path` atomically: writes a sibling temporary file with the
    /// requested mode (umask not applied), fsyncs it and renames it over the target.
    static func write(_ request: WriteFileRequest) throws(AgentSystemError) {
        let action = "write \(request.path)"
        let temporary = request.path + ".corral-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if fd < 0 { throw AgentSystemError(action, call: "open", path: temporary) }
        var committed = false
        defer {
            close(fd)
            if !committed { unlink(temporary) }
        }
        var offset = 0
        while offset < request.contents.count {
            let count = request.contents.withUnsafeBytes {
                Glibc.write(fd, $0.baseAddress.map { $0 + offset }, $0.count - offset)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw AgentSystemError(action, call: "write", path: temporary)
            }
            offset += count
        }
        if fchmod(fd, mode_t(request.mode & 0o7777)) != 0 { throw AgentSystemError(action, call: "fchmod", path: temporary) }
        if fsync(fd) != 0 { throw AgentSystemError(action, call: "fsync", path: temporary) }
        if rename(temporary, request.path) != 0 { throw AgentSystemError(action, call: "rename", path: request.path) }
        committed = true
    }
}
