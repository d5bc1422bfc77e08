import CorralCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A Linux kernel image a microVM boots, with what the initramfs needs to know
/// about it.
public struct VMKernel: Sendable, Equatable {
    /// The kernel image file.
    public var path: String
    /// Its `uname -r`, e.g. `6.1.0-56-cloud-amd64`; nil when it cannot be told.
    public var version: String?
    /// `/lib/modules/<version>` when it exists on this host, or the image's
    /// `<imageRoot>/lib/modules/<version>` for a kernel taken from an image.
    public var modulesDirectory: String?
    /// The root of the image the kernel was taken from, or nil for a host kernel.
    /// Files of an image kernel's modules are read confined to it: no symlink or
    /// `..` in the image reaches a host file.
    public var imageRoot: String?

    public init(path: String, version: String?, modulesDirectory: String?, imageRoot: String? = nil) {
        self.path = path
        self.version = version
        self.modulesDirectory = modulesDirectory
        self.imageRoot = imageRoot
    }
}

extension VMKernel {
    static let bootDirectory = "/boot"
    static let modulesRoot = "/lib/modules"
    static let package = "linux-image-cloud-amd64"

    /// The host's newest Debian cloud kernel (`/boot/vmlinuz-*-cloud-amd64`), else
    /// the newest `/boot/vmlinuz-*`. Throws `unavailable` naming the package to
    /// install when there is none.
    public static func hostDefault() throws(CorralError) -> VMKernel {
        try newest(in: bootDirectory, modulesRoot: modulesRoot)
    }

    /// The kernel image at `path`; its version is read from the bzImage setup
    /// header (nil for other formats). Throws `notFound` when the file is missing.
    public static func at(path: String) throws(CorralError) -> VMKernel {
        try at(path: path, modulesRoot: modulesRoot)
    }

    static func at(path: String, modulesRoot: String) throws(CorralError) -> VMKernel {
        try at(path: path) { modulesDirectory($0, root: modulesRoot) }
    }

    /// The kernel image at `path` taken from the image rooted at `imageRoot`;
    /// `modules` gives the host path of the image's modules directory for the
    /// kernel's version, or nil when the image has none. Throws `notFound` when
    /// the file is missing.
    public static func inImage(
        path: String, imageRoot: String, modules: (String) -> String?
    ) throws(CorralError) -> VMKernel {
        var kernel = try at(path: path, modules: modules)
        kernel.imageRoot = imageRoot
        return kernel
    }

    static func at(path: String, modules: (String) -> String?) throws(CorralError) -> VMKernel {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            if errno == ENOENT { throw .notFound("failed to read kernel \(path): \(reason)") }
            throw .invalidArgument("failed to read kernel \(path): \(reason)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw .invalidArgument("failed to read kernel \(path): not a regular file")
        }
        var header = [UInt8](repeating: 0, count: 64 * 1024)
        let count = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        let version = count > 0 ? Self.bzImageVersion(Array(header[0..<count])) : nil
        let directory = version.flatMap { $0.contains("/") ? nil : modules($0) }
        return VMKernel(path: path, version: version, modulesDirectory: directory)
    }

    static func newest(in boot: String, modulesRoot: String) throws(CorralError) -> VMKernel {
        let names = AssetFiles.entries(boot).filter { $0.hasPrefix("vmlinuz-") }
        let cloud = names.filter { $0.hasSuffix("-cloud-amd64") }
        let candidates = cloud.isEmpty ? names : cloud
        guard let best = candidates.max(by: { versionOrder(String($0.dropFirst(8)), String($1.dropFirst(8))) }) else {
            throw .unavailable(
                "failed to find a VM kernel: no \(boot)/vmlinuz-* on this host (install the Debian package \(package))")
        }
        let version = String(best.dropFirst("vmlinuz-".count))
        return VMKernel(
            path: "\(boot)/\(best)", version: version, modulesDirectory: modulesDirectory(version, root: modulesRoot))
    }

    /// Whether version `a` sorts before `b`: numeric runs compare as numbers, the
    /// rest as text (`6.1.0-9` < `6.1.0-56`).
    static func versionOrder(_ a: String, _ b: String) -> Bool {
        let left = versionParts(a)
        let right = versionParts(b)
        for (l, r) in zip(left, right) where l != r {
            switch (l, r) {
            case (.number(let x), .number(let y)): return x < y
            case (.text(let x), .text(let y)): return x < y
            case (.number, .text): return false
            case (.text, .number): return true
            }
        }
        return left.count < right.count
    }

    private enum VersionPart: Equatable {
        case number(Int)
        case text(String)
    }

    private static func versionParts(_ version: String) -> [VersionPart] {
        var parts: [VersionPart] = []
        var current = ""
        var numeric = false
        func flush() {
            guard !current.isEmpty else { return }
            parts.append(numeric ? .number(Int(current) ?? 0) : .text(current))
            current = ""
        }
        for character in version {
            let isDigit = character.isASCII && character.isNumber
            if !current.isEmpty, isDigit != numeric { flush() }
            numeric = isDigit
            current.append(character)
        }
        flush()
        return parts
    }

    private static func modulesDirectory(_ version: String?, root: String) -> String? {
        guard let version, !version.contains("/") else { return nil }
        let path = "\(root)/\(version)"
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR ? path : nil
    }

    /// The version string of a bzImage: the setup header (magic `HdrS` at 0x202)
    /// holds at 0x20E a pointer to the `kernel_version` text, which sits at that
    /// pointer + 0x200. Its first word is the `uname -r`. Nil for anything else.
    static func bzImageVersion(_ header: [UInt8]) -> String? {
        guard header.count > 0x210, Array(header[0x202..<0x206]) == Array("HdrS".utf8) else { return nil }
        let pointer = Int(header[0x20E]) | Int(header[0x20F]) << 8
        let start = pointer + 0x200
        guard pointer > 0, start < header.count else { return nil }
        var end = start
        while end < header.count, end - start < 256, header[end] != 0, header[end] != 0x20 { end += 1 }
        guard end > start, let text = String(validating: header[start..<end], as: UTF8.self) else { return nil }
        return text
    }
}
