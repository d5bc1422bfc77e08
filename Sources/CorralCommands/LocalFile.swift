import Foundation

/// Whole-file reads and writes on this host for `corral cp`.
enum LocalFile {
    /// The bytes and permission bits of the regular file at `path`, following
    /// symbolic links.
    ///
    /// - Throws: `CommandFailure` with `notFound` when nothing is there, `usage`
    ///   for a directory or other non-regular file or one over `limit` bytes,
    ///   `failure` when it cannot be read.
    static func read(_ path: String, limit: Int) throws -> (bytes: Data, mode: Int) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            throw CommandFailure(code == ENOENT ? .notFound : .failure, "failed to read '\(path)': \(describe(code))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            let what = info.st_mode & S_IFMT == S_IFDIR ? "a directory (cp copies single files)" : "not a regular file"
            throw CommandFailure(.usage, "failed to read '\(path)': it is \(what)")
        }
        guard info.st_size <= limit else {
            throw CommandFailure(
                .usage,
                "failed to read '\(path)': it is \(info.st_size) bytes, more than one request to corrald can carry (\(limit))")
        }
        do {
            return (try Data(contentsOf: URL(fileURLWithPath: path)), Int(info.st_mode & 0o7777))
        } catch {
            throw CommandFailure(.failure, "failed to read '\(path)': \(describe(error))")
        }
    }

    /// Replaces the file at `path` (the file a symbolic link there points at)
    /// with `bytes` atomically: readers see the old or the new content, never
    /// a part. A replaced file keeps its permission bits; a new one gets the
    /// default mode under this process's umask.
    ///
    /// - Throws: `CommandFailure`: `notFound` when its directory does not
    ///   exist, `failure` when it cannot be written.
    static func replace(_ path: String, with bytes: Data) throws {
        let url = URL(fileURLWithPath: path).resolvingSymlinksInPath()
        var isDirectory: ObjCBool = false
        let directory = url.deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CommandFailure(.notFound, "failed to write '\(path)': no directory '\(directory)'")
        }
        var info = stat()
        let previousMode: mode_t? = stat(url.path, &info) == 0 ? info.st_mode & 0o7777 : nil
        do {
            try bytes.write(to: url, options: .atomic)
        } catch {
            throw CommandFailure(.failure, "failed to write '\(path)': \(describe(error))")
        }
        if let previousMode, chmod(url.path, previousMode) != 0 {
            throw CommandFailure(.failure, "failed to keep the mode of '\(path)': \(describe(errno))")
        }
    }

    static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }

    /// The system's reason for a Foundation file error when it carries one.
    static func describe(_ error: any Error) -> String {
        let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        if let underlying, underlying.domain == NSPOSIXErrorDomain {
            return describe(Int32(underlying.code))
        }
        return error.localizedDescription
    }
}
