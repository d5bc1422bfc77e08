import CCorralSpawn
import CorralShimFormat

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A directory that paths are resolved inside of, as if it were `/`: `..` stops at
/// it and symbolic links (absolute ones included) are followed relative to it, so
/// no path, whatever its symlinks, reaches a file outside (`openat2` with
/// `RESOLVE_IN_ROOT`; magic links such as `/proc/self/root` are refused).
///
/// The root of a running container is reached through `/proc/<init pid>/root`,
/// which the kernel resolves into the container's own mount namespace.
public final class ConfinedDirectory: Sendable {
    /// An `O_PATH` descriptor of the root, owned by this object.
    let fd: Int32
    /// For messages.
    public let path: String

    /// Opens `path` as the root; follows `path` itself, symlinks and magic links included.
    public init(path: String) throws(SystemCallError) {
        let fd = corral_open_directory_path(path)
        if fd < 0 { throw .last("open", path: path) }
        self.fd = fd
        self.path = path
    }

    deinit {
        close(fd)
    }

    /// The content of the regular file at `inner` (resolved inside the root); nil
    /// when it does not exist. Fails with `EFBIG` past `limit` bytes and `EISDIR`
    /// (or another errno) for anything but a regular file.
    public func read(_ inner: String, limit: Int) throws(SystemCallError) -> [UInt8]? {
        let file = corral_open_in_root(fd, inner, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0)
        if file < 0 {
            if errno == ENOENT { return nil }
            throw .last("open", path: inner)
        }
        defer { close(file) }
        var info = stat()
        guard fstat(file, &info) == 0 else { throw .last("fstat", path: inner) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw SystemCallError("open", path: inner, errno: (info.st_mode & S_IFMT) == S_IFDIR ? EISDIR : EINVAL)
        }
        let bytes = try RawFile.readAll(fd: file, limit: limit + 1, path: inner)
        if bytes.count > limit { throw SystemCallError("read", path: inner, errno: EFBIG) }
        return bytes
    }

    /// Replaces the file at `inner` with `bytes` and `mode`, atomically: a reader
    /// sees the old content or the new, never a mix. The parent directory must
    /// exist; the last component is replaced as a name (a symlink there is replaced,
    /// not followed). Owned by the caller's uid and gid.
    public func write(_ inner: String, _ bytes: [UInt8], mode: mode_t) throws(SystemCallError) {
        let (parentPath, name) = Self.split(inner)
        guard !name.isEmpty, name != ".", name != ".." else { throw SystemCallError("open", path: inner, errno: EISDIR) }
        let parent = corral_open_directory_in_root(fd, parentPath)
        if parent < 0 { throw .last("open", path: parentPath) }
        defer { close(parent) }

        let temporary = ".\(name).corral-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let file = openat(parent, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode & 0o7777)
        if file < 0 { throw .last("open", path: "\(parentPath)/\(temporary)") }
        do throws(SystemCallError) {
            try RawFile.writeAll(fd: file, bytes, path: inner)
            // The umask may have cleared bits the caller asked for.
            if fchmod(file, mode & 0o7777) != 0 { throw .last("fchmod", path: inner) }
        } catch {
            close(file)
            unlinkat(parent, temporary, 0)
            throw error
        }
        close(file)
        if renameat(parent, temporary, parent, name) != 0 {
            let failure = SystemCallError.last("rename", path: inner)
            unlinkat(parent, temporary, 0)
            throw failure
        }
    }

    /// `a/b/c` → (`a/b`, `c`); `c` → (`.`, `c`); `/c` → (`/`, `c`). Trailing slashes
    /// are dropped first.
    static func split(_ path: String) -> (String, String) {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return (".", String(trimmed)) }
        let parent = trimmed[..<slash]
        return (parent.isEmpty ? "/" : String(parent), String(trimmed[trimmed.index(after: slash)...]))
    }
}
