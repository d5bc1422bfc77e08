#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Foundation-free file primitives shared by `corral-shim` and the host code that
/// reads what the shim writes.
public enum RawFile {
    /// The whole content of `path`, or nil when it does not exist.
    ///
    /// Reads at most `limit` bytes; files under `/proc` and `/sys` report size 0, so
    /// the read loops until end of file rather than trusting `fstat`.
    public static func read(_ path: String, limit: Int = 1 << 20) throws(SystemCallError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw .last("open", path: path)
        }
        defer { close(fd) }
        return try readAll(fd: fd, limit: limit, path: path)
    }

    /// Reads from `fd` until end of file or `limit` bytes.
    public static func readAll(fd: Int32, limit: Int = 1 << 20, path: String? = nil) throws(SystemCallError) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while out.count < limit {
            let want = min(chunk.count, limit - out.count)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, want) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .last("read", path: path)
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// Writes all of `bytes` to `fd`, retrying short writes and `EINTR`.
    public static func writeAll(fd: Int32, _ bytes: [UInt8], path: String? = nil) throws(SystemCallError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Glibc.write(fd, raw.baseAddress.map { $0 + done }, bytes.count - done)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw .last("write", path: path)
            }
            done += n
        }
    }

    /// Replaces `path` with `bytes` so that a reader sees either the old content or
    /// the new one, never a mix: write a temporary file beside it, then rename.
    ///
    /// With `durable`, the temporary file is fsynced before the rename and the
    /// directory after it, so the new content also survives a power loss.
    public static func writeAtomically(
        _ path: String,
        _ bytes: [UInt8],
        durable: Bool,
        mode: mode_t = 0o644
    ) throws(SystemCallError) {
        let temporary = "\(path).tmp.\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        if fd < 0 { throw .last("open", path: temporary) }
        do throws(SystemCallError) {
            try writeAll(fd: fd, bytes, path: temporary)
            if durable, fsync(fd) != 0 { throw SystemCallError.last("fsync", path: temporary) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        if rename(temporary, path) != 0 {
            let failure = SystemCallError.last("rename", path: path)
            unlink(temporary)
            throw failure
        }
        if durable { syncDirectory(of: path) }
    }

    /// Removes `path`; a missing file is not an error.
    public static func remove(_ path: String) throws(SystemCallError) {
        if unlink(path) != 0, errno != ENOENT { throw .last("unlink", path: path) }
    }

    /// Whether `path` exists (any file type).
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// The inode number and size of `path`, or nil when it does not exist.
    public static func identity(_ path: String) -> (inode: UInt64, size: Int64)? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return (UInt64(info.st_ino), Int64(info.st_size))
    }

    /// The inode number and size of an open file, or nil if `fstat` fails.
    public static func identity(fd: Int32) -> (inode: UInt64, size: Int64)? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        return (UInt64(info.st_ino), Int64(info.st_size))
    }

    private static func syncDirectory(of path: String) {
        var directory = "."
        if let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) {
            directory = slash == path.utf8.startIndex ? "/" : String(path[..<slash])
        }
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}
