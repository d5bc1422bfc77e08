import CorralCore
import CorralHost

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Builds the initramfs a microVM boots: `/init` is `corral-agent`, with
/// `/dev/console` (so the kernel gives init a console) and the kernel modules the
/// guest needs that the kernel does not build in, listed in load order in
/// `/etc/corral/modules`.
///
/// One archive per (agent binary content, kernel version), cached in
/// `cacheDirectory` as `initramfs-v<layout>-<version>-<agent fingerprint>.cpio`, written
/// atomically under an exclusive `flock`, so concurrent callers build it once.
/// Calls block the calling thread (file reads and writes, the lock): call them
/// from a thread of their own, not the Swift cooperative pool.
public struct InitramfsBuilder: Sendable {
    public let agentPath: String
    public let cacheDirectory: String

    /// Part of the cache key: bumped when the archive's layout or module choice changes.
    static let layoutVersion = 1
    /// Where the archive keeps the modules and their list.
    static let moduleDirectory = "lib/modules"
    static let moduleList = "etc/corral/modules"

    public init(agentPath: String, cacheDirectory: String) {
        self.agentPath = agentPath
        self.cacheDirectory = cacheDirectory
    }

    /// The cached initramfs for `kernel`, built when missing. Throws `notFound`
    /// when the agent binary is missing, `unsupported` when the kernel's modules
    /// are compressed and it cannot load compressed modules itself.
    public func initramfs(for kernel: VMKernel) throws(CorralError) -> String {
        let action = "build the initramfs"
        let agent = try AssetFiles.read(agentPath, action: action)
        let version = kernel.version.map { $0.filter { $0.isLetter || $0.isNumber || "._-+".contains($0) } } ?? "unknown"
        let path = "\(cacheDirectory)/initramfs-v\(Self.layoutVersion)-\(version)\(Self.modulesTag(kernel))-\(AssetFiles.fingerprint(agent)).cpio"
        if AssetFiles.exists(path) { return path }
        try AssetFiles.makeDirectories(cacheDirectory, action: action)
        return try AssetFiles.withLock("\(cacheDirectory)/.lock", action: action) { () throws(CorralError) -> String in
            if AssetFiles.exists(path) { return path }
            let archive = try Self.archive(agent: agent, kernel: kernel)
            try AssetFiles.writeAtomically(path, [archive], mode: 0o644, action: action)
            return path
        }
    }

    /// Empty for a host kernel's modules; for a kernel from an image, a tag of
    /// where its modules come from (or that it has none), so that two kernels of
    /// one version never share an archive.
    static func modulesTag(_ kernel: VMKernel) -> String {
        guard kernel.imageRoot != nil else { return "" }
        return "-image-" + AssetFiles.fingerprint(Array((kernel.modulesDirectory ?? "none").utf8))
    }

    /// Writes the user's initrd followed by Corral's initramfs to `path`
    /// (atomically): the kernel unpacks both, later entries winning, so `/init`
    /// is the agent's. The user's initrd may be compressed.
    public func combined(userInitrd: String, kernel: VMKernel, at path: String) throws(CorralError) {
        let action = "combine initrd \(userInitrd) with Corral's initramfs"
        let user = try AssetFiles.read(userInitrd, action: action)
        let ours = try AssetFiles.read(try initramfs(for: kernel), action: action)
        // Archives start on a 4-byte boundary; the kernel skips zero padding between them.
        let padding = [UInt8](repeating: 0, count: (4 - user.count % 4) % 4)
        try AssetFiles.writeAtomically(path, [user, padding, ours], mode: 0o644, action: action)
    }

    /// The archive's bytes.
    static func archive(agent: [UInt8], kernel: VMKernel) throws(CorralError) -> [UInt8] {
        var writer = CpioWriter()
        for directory in ["dev", "etc", "etc/corral", "lib", moduleDirectory, "newroot", "proc", "sys"] {
            writer.append(directory, .directory, permissions: 0o755)
        }
        writer.append("dev/console", .characterDevice(major: 5, minor: 1), permissions: 0o600)
        writer.append("init", .file(agent), permissions: 0o755)
        var list = ""
        for module in try modules(for: kernel) {
            let name = module.path.split(separator: "/").last.map(String.init) ?? module.path
            writer.append("\(moduleDirectory)/\(name)", .file(module.contents), permissions: 0o644)
            list += "/\(moduleDirectory)/\(name)\n"
        }
        writer.append(moduleList, .file(Array(list.utf8)), permissions: 0o644)
        return writer.finish()
    }

    /// The files of the guest's modules, in load order; none without a modules
    /// directory (a kernel with everything built in, or one from elsewhere).
    static func modules(for kernel: VMKernel) throws(CorralError) -> [(path: String, contents: [UInt8])] {
        guard let directory = kernel.modulesDirectory else { return [] }
        let action = "collect kernel modules from \(directory)"
        let dep = try read("\(directory)/modules.dep", of: kernel, action: action)
        let set = KernelModuleSet(modulesDep: String(decoding: dep, as: UTF8.self))
        let compressed = set.paths.filter { !$0.hasSuffix(".ko") }
        if !compressed.isEmpty, !kernelDecompressesModules(kernel) {
            throw .unsupported(
                "failed to \(action): \(compressed[0]) is compressed and the kernel cannot load compressed modules")
        }
        var modules: [(path: String, contents: [UInt8])] = []
        for path in set.paths {
            modules.append((path, try read("\(directory)/\(path)", of: kernel, action: action)))
        }
        return modules
    }

    /// The file at `path`; for a kernel from an image, read confined to the
    /// image's root, so neither `..` nor a symlink reaches a host file.
    static func read(_ path: String, of kernel: VMKernel, action: String) throws(CorralError) -> [UInt8] {
        guard let root = kernel.imageRoot else { return try AssetFiles.read(path, action: action) }
        let inner = path.hasPrefix(root + "/") ? String(path.dropFirst(root.count)) : path
        let bytes: [UInt8]?
        do {
            bytes = try ConfinedDirectory(path: root).read(inner, limit: maxImageFileBytes)
        } catch {
            throw CorralError(.invalidArgument, "failed to \(action): cannot read \(inner) in the image", cause: error)
        }
        guard let bytes else { throw .invalidArgument("failed to \(action): \(inner) does not exist in the image") }
        return bytes
    }

    /// The largest module file or kernel config read from an image.
    static let maxImageFileBytes = 256 << 20

    /// Whether `CONFIG_MODULE_DECOMPRESS=y` in the kernel's `/boot/config-<version>`.
    static func kernelDecompressesModules(_ kernel: VMKernel) -> Bool {
        guard let version = kernel.version,
            let config = try? read(
                "\(kernel.imageRoot ?? "")\(VMKernel.bootDirectory)/config-\(version)", of: kernel, action: "read")
        else { return false }
        return String(decoding: config, as: UTF8.self).split(separator: "\n").contains("CONFIG_MODULE_DECOMPRESS=y")
    }
}
