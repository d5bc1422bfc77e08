import CorralCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Resolution of a path inside an image's read-only rootfs, as the guest would
/// see it: symlinks are followed with absolute targets taken from the image's
/// root; a `..` that would climb above the root is refused, never clamped.
enum ImageRootPath {
    /// Symlinks followed before a path is refused, as the kernel's own limit.
    static let maxLinks = 40

    /// The path `inner` (absolute) names once every symlink is followed; `readLink`
    /// gives the target of the symlink at an inner path, or nil when the path is no
    /// symlink. Throws `invalidArgument` naming `label` when the path or a link
    /// leads out of the root or links loop.
    static func resolve(
        _ inner: String, label: String, readLink: (String) -> String?
    ) throws(CorralError) -> String {
        var pending = Array(inner.split(separator: "/").reversed())
        var resolved: [Substring] = []
        var links = 0
        while let component = pending.popLast() {
            if component == "." { continue }
            if component == ".." {
                guard resolved.popLast() != nil else {
                    throw .invalidArgument("failed to start instance: image label \(label) '\(inner)' leads out of the image")
                }
                continue
            }
            let candidate = "/" + (resolved + [component]).joined(separator: "/")
            guard let target = readLink(candidate) else {
                resolved.append(component)
                continue
            }
            links += 1
            guard links <= maxLinks else {
                throw .invalidArgument("failed to start instance: image label \(label) '\(inner)': too many levels of symbolic links")
            }
            if target.hasPrefix("/") { resolved = [] }
            pending.append(contentsOf: target.split(separator: "/").reversed())
        }
        return "/" + resolved.joined(separator: "/")
    }

    /// The host path of the regular file `inner` names inside `rootfs`. Throws
    /// `invalidArgument` naming `label` when it leads out of the image, is missing
    /// or is not a regular file.
    static func file(_ inner: String, label: String, rootfs: String) throws(CorralError) -> String {
        let path = rootfs + (try resolve(inner, label: label) { readLink(rootfs + $0) })
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw .invalidArgument(
                "failed to start instance: image label \(label) names \(inner), which is not in the image: \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw .invalidArgument("failed to start instance: image label \(label) names \(inner), which is not a regular file")
        }
        return path
    }

    /// The host path of the directory `inner` names inside `rootfs`, or nil when
    /// there is none or it leads out of the image.
    static func directory(_ inner: String, rootfs: String) -> String? {
        guard let resolved = try? resolve(inner, label: "", readLink: { readLink(rootfs + $0) }) else { return nil }
        let path = rootfs + resolved
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR ? path : nil
    }

    /// The target of the symlink at `path`, or nil when it is none.
    static func readLink(_ path: String) -> String? {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFLNK else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
