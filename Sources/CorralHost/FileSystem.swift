import CorralShimFormat

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Small file and directory operations with errno-precise failures.
public enum FileSystem {
    /// The content of `path` as text; nil when it does not exist.
    public static func readText(_ path: String) throws(SystemCallError) -> String? {
        try RawFile.read(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Writes `text` into an existing file in place, in one `write`: the shape
    /// cgroup and proc control files need (they cannot be renamed over).
    public static func writeControl(_ path: String, _ text: String) throws(SystemCallError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw .last("open", path: path) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if written < 0 { throw .last("write", path: path) }
        if written != bytes.count { throw SystemCallError("write", path: path, errno: EIO) }
    }

    /// Creates `path` and any missing parents. Returns whether `path` itself was
    /// created by this call (false when it already existed).
    @discardableResult
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(SystemCallError) -> Bool {
        if mkdir(path, mode) == 0 { return true }
        switch errno {
        case EEXIST:
            return false
        case ENOENT:
            guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else {
                throw .last("mkdir", path: path)
            }
            try makeDirectories(String(path[..<slash]), mode: mode)
            if mkdir(path, mode) == 0 { return true }
            if errno == EEXIST { return false }
            throw .last("mkdir", path: path)
        default:
            throw .last("mkdir", path: path)
        }
    }

    /// Removes an empty directory; a missing one is not an error.
    public static func removeDirectory(_ path: String) throws(SystemCallError) {
        if rmdir(path) != 0, errno != ENOENT { throw .last("rmdir", path: path) }
    }

    /// Removes `path` and everything under it, without following symbolic links;
    /// a missing path is not an error.
    public static func removeTree(_ path: String) throws(SystemCallError) {
        var info = stat()
        if lstat(path, &info) != 0 {
            if errno == ENOENT { return }
            throw .last("lstat", path: path)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            for name in try entries(of: path) { try removeTree("\(path)/\(name)") }
            try removeDirectory(path)
        } else {
            try RawFile.remove(path)
        }
    }

    /// The names in a directory, without `.` and `..`; empty when it does not exist.
    public static func entries(of path: String) throws(SystemCallError) -> [String] {
        guard let directory = opendir(path) else {
            if errno == ENOENT { return [] }
            throw .last("opendir", path: path)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    /// Whether `path` is a regular file this process may execute.
    public static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return false }
        return access(path, X_OK) == 0
    }

    /// Whether this process may create entries in directory `path`.
    public static func isWritableDirectory(_ path: String) -> Bool {
        access(path, W_OK) == 0
    }
}
