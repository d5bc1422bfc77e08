import CorralCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// File primitives of the asset caches: whole reads, atomic replacement and
/// `flock` serialisation between builders (threads or processes).
enum AssetFiles {
    /// The names in a directory, without `.` and `..`; empty when unreadable.
    static func entries(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
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

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// The whole file; throws `notFound` when it is missing.
    static func read(_ path: String, action: String) throws(CorralError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(action, "open", path, notFound: errno == ENOENT) }
        defer { close(fd) }
        var contents: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure(action, "read", path)
            }
            if count == 0 { return contents }
            contents.append(contentsOf: chunk[0..<count])
        }
    }

    /// Creates `path` and its missing parents.
    static func makeDirectories(_ path: String, action: String) throws(CorralError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0, errno != EEXIST { throw failure(action, "mkdir", prefix) }
        }
    }

    /// A temporary path beside `path`, unique to this process and call.
    static func temporaryPath(for path: String) -> String {
        "\(path).tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF)"
    }

    /// Writes `pieces` to a temporary file beside `path`, fsyncs it, gives it
    /// `mode` and renames it over `path`: readers see the old file or the whole
    /// new one.
    static func writeAtomically(_ path: String, _ pieces: [[UInt8]], mode: mode_t, action: String) throws(CorralError) {
        let temporary = temporaryPath(for: path)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure(action, "open", temporary) }
        var committed = false
        defer {
            close(fd)
            if !committed { unlink(temporary) }
        }
        for piece in pieces {
            var offset = 0
            while offset < piece.count {
                let count = piece.withUnsafeBytes { Glibc.write(fd, $0.baseAddress.map { $0 + offset }, $0.count - offset) }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw failure(action, "write", temporary)
                }
                offset += count
            }
        }
        if fchmod(fd, mode) != 0 { throw failure(action, "fchmod", temporary) }
        if fsync(fd) != 0 { throw failure(action, "fsync", temporary) }
        if rename(temporary, path) != 0 { throw failure(action, "rename", path) }
        committed = true
    }

    /// Runs `body` holding an exclusive `flock` on `lockPath` (created if needed),
    /// waiting on the calling thread for other holders.
    static func withLock<T>(_ lockPath: String, action: String, _ body: () throws(CorralError) -> T) throws(CorralError) -> T {
        let fd = try openLock(lockPath, action: action)
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            throw failure(action, "flock", lockPath)
        }
        return try body()
    }

    /// Opens (creating) a lock file.
    static func openLock(_ lockPath: String, action: String) throws(CorralError) -> Int32 {
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure(action, "open", lockPath) }
        return fd
    }

    static func failure(_ action: String, _ call: String, _ path: String, notFound: Bool = false) -> CorralError {
        let message = "failed to \(action): \(call) \(path): \(String(cString: strerror(errno)))"
        return notFound ? .notFound(message) : .internal(message)
    }

    /// FNV-1a, 64 bits: a cache key for local files Corral itself put there, not a
    /// defence against crafted collisions.
    static func fingerprint(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        let text = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
