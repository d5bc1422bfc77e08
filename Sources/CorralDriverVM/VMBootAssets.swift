import CorralCore
import CorralVMAssets
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The driver's view of the boot assets: the kernel, Corral's initramfs (its
/// `/init` is the agent), the ext4 base per image digest and the qcow2 overlay
/// per instance, all cached under the driver's cache directory.
struct VMBootAssets: Sendable {
    typealias Kernel = VMKernel

    let configuration: VMDriverConfiguration
    let qemuImgPath: String?
    let mkfsPath: String?
    /// Which initramfs serves which agent file and kernel, so that a start does not
    /// read and hash the agent (megabytes) again.
    let builtInitramfs = InitramfsMemo()

    /// The kernel at `path`, else the configured default, else the host's cloud kernel.
    func kernel(path: String?) throws(CorralError) -> VMKernel {
        if let path = path ?? configuration.kernelPath { return try VMKernel.at(path: path) }
        return try VMKernel.hostDefault()
    }

    /// The kernel `source` names: an instance's host file, the file an image
    /// label names inside `rootfs` (with the image's `/lib/modules/<version>` as
    /// its modules when present), or the daemon's default.
    func kernel(_ source: BootFileSource, rootfs: String) throws(CorralError) -> VMKernel {
        switch source {
        case .instance(let path): return try kernel(path: path)
        case .daemon: return try kernel(path: nil)
        case .image(let inner):
            let path = try ImageRootPath.file(inner, label: ImageBootLabels.kernelLabel, rootfs: rootfs)
            return try VMKernel.inImage(path: path, imageRoot: rootfs) { version in
                ImageRootPath.directory("/lib/modules/\(version)", rootfs: rootfs)
            }
        }
    }

    /// The host path of the initrd `source` names, or nil for none.
    func initrd(_ source: BootFileSource, rootfs: String) throws(CorralError) -> String? {
        switch source {
        case .instance(let path): return path
        case .daemon: return nil
        case .image(let inner): return try ImageRootPath.file(inner, label: ImageBootLabels.initrdLabel, rootfs: rootfs)
        }
    }

    var initramfsBuilder: InitramfsBuilder {
        InitramfsBuilder(agentPath: configuration.agentPath, cacheDirectory: "\(configuration.cacheDirectory)/initramfs")
    }

    /// Corral's initramfs for `kernel`, built once and cached. The builder reads
    /// and hashes the agent and may write the archive: it runs off the Swift pool.
    func initramfs(for kernel: VMKernel) async throws(CorralError) -> String {
        let key = InitramfsMemo.key(agentPath: configuration.agentPath, kernel: kernel)
        if let key, let path = builtInitramfs.path(for: key) { return path }
        let builder = initramfsBuilder
        let path = try await Self.offPool { () throws(CorralError) in try builder.initramfs(for: kernel) }
        if let key { builtInitramfs.remember(path, for: key) }
        return path
    }

    /// Corral's initramfs laid over `userInitrd`, written to `path`, off the Swift pool.
    func combined(userInitrd: String, kernel: VMKernel, at path: String) async throws(CorralError) {
        let builder = initramfsBuilder
        try await Self.offPool { () throws(CorralError) in try builder.combined(userInitrd: userInitrd, kernel: kernel, at: path) }
    }

    /// Runs blocking file work on a dispatch thread, not the cooperative pool.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws(CorralError) -> T) async throws(CorralError) -> T {
        let result: Result<T, CorralError> = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                do throws(CorralError) {
                    continuation.resume(returning: .success(try work()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    func disks(_ verb: String) throws(CorralError) -> RootDiskBuilder {
        guard let qemuImgPath else {
            throw .unavailable("failed to \(verb): qemu-img is not installed on this host (Debian package qemu-utils)")
        }
        guard let mkfsPath else {
            throw .unavailable("failed to \(verb): mkfs.ext4 is not installed on this host (Debian package e2fsprogs)")
        }
        return RootDiskBuilder(cacheDirectory: "\(configuration.cacheDirectory)/disks", qemuImgPath: qemuImgPath, mkfsPath: mkfsPath)
    }
}

/// Initramfs paths by the identity of the agent file (device, inode, size,
/// modification time) and the kernel they were built for.
final class InitramfsMemo: Sendable {
    private let paths = Mutex<[String: String]>([:])

    /// The remembered path for `key`, if the file is still there.
    func path(for key: String) -> String? {
        guard let path = paths.withLock({ $0[key] }) else { return nil }
        return access(path, R_OK) == 0 ? path : nil
    }

    func remember(_ path: String, for key: String) {
        paths.withLock { $0[key] = path }
    }

    /// nil when the agent cannot be stat'ed (the builder then reports why).
    static func key(agentPath: String, kernel: VMKernel) -> String? {
        var info = stat()
        guard stat(agentPath, &info) == 0 else { return nil }
        return "\(info.st_dev):\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)|\(kernel.path)|\(kernel.version ?? "")|\(kernel.modulesDirectory ?? "")"
    }
}
