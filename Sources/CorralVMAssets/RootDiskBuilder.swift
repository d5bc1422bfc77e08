import CorralCore
import CorralHost
import Foundation

/// Root disks of microVMs: one read-only ext4 base image per image digest, made
/// from the image's unpacked rootfs with `mkfs.ext4 -d`, and one qcow2 overlay per
/// instance over it, so a new VM costs one small file.
///
/// Bases live in `cacheDirectory` as `<algorithm>-<hex>.ext4`, mode 0444, each
/// built at most once: builders of one digest serialise on `<name>.lock`
/// (`flock`, so across processes too) and the image appears by rename only when
/// complete.
public struct RootDiskBuilder: Sendable {
    public let cacheDirectory: String
    /// Not needed: overlays are written without running `qemu-img`. Kept so callers
    /// can pass what they probed.
    public let qemuImgPath: String?
    /// `mkfs.ext4`; nil looks it up in the default search path.
    public let mkfsPath: String?
    /// The smallest base image; bases get twice their content beyond it.
    static let minimumBytes: UInt64 = 256 << 20
    static let mkfsTimeoutSeconds: UInt64 = 600
    static let lockWaitSeconds: UInt64 = 900
    static let removeWaitSeconds: UInt64 = 5

    public init(cacheDirectory: String, qemuImgPath: String? = nil, mkfsPath: String? = nil) {
        self.cacheDirectory = cacheDirectory
        self.qemuImgPath = qemuImgPath
        self.mkfsPath = mkfsPath
    }

    /// The ext4 base image of `rootfs` for image `digest` (`sha256:<hex>`), built
    /// when missing: owners, modes and special files kept, sparse, sized to
    /// max(256 MiB, 2 × content) plus room for twice as many inodes as entries.
    /// Waits for a concurrent build of the same digest instead of repeating it.
    public func baseImage(rootfs: String, digest: String) async throws(CorralError) -> String {
        let action = "build the root disk of \(digest)"
        let path = try basePath(digest: digest)
        if FileManager.default.fileExists(atPath: path) { return path }
        let mkfs = try mkfsExecutable(action)
        try AssetFiles.makeDirectories(cacheDirectory, action: action)
        let lock = try await acquireLock(path + ".lock", action: action)
        defer { close(lock) }
        if FileManager.default.fileExists(atPath: path) { return path }

        let content = try await Self.offPool { () throws(CorralError) -> RootfsSize in try RootfsSize.measure(rootfs) }
        let size = content.imageBytes(minimum: Self.minimumBytes)
        let temporary = AssetFiles.temporaryPath(for: path)
        defer { unlink(temporary) }
        let watcher: DescriptorWatcher
        do {
            watcher = try DescriptorWatcher(name: "corral-vm-mkfs")
        } catch {
            throw CorralError(.internal, "failed to \(action)", cause: error)
        }
        defer { watcher.shutdown() }
        let command = HostCommand(
            executable: mkfs,
            arguments: [
                "-q", "-F", "-t", "ext4", "-b", "4096", "-m", "0", "-N", String(content.inodes), "-L", "corral-root",
                "-d", rootfs, temporary, "\(size / 1024)k",
            ])
        let deadline = HostProcess.monotonicNanoseconds() + Self.mkfsTimeoutSeconds * 1_000_000_000
        let outcome = try await command.run(watcher: watcher, deadline: deadline)
        if outcome.timedOut { throw .timeout("failed to \(action): mkfs.ext4 ran longer than \(Self.mkfsTimeoutSeconds) s") }
        guard outcome.exitCode == 0 else {
            throw .internal("failed to \(action): mkfs.ext4 failed: \(outcome.errorText)")
        }
        guard chmod(temporary, 0o444) == 0 else { throw AssetFiles.failure(action, "chmod", temporary) }
        guard rename(temporary, path) == 0 else { throw AssetFiles.failure(action, "rename", path) }
        return path
    }

    /// An empty ext4 disk of `sizeMB` MiB at `path` (sparse, written beside it and
    /// renamed into place); an existing one is kept. For volumes made with their instance.
    public func createVolume(at path: String, sizeMB: Int) async throws(CorralError) {
        let action = "create the volume \(path)"
        if FileManager.default.fileExists(atPath: path) { return }
        let mkfs = try mkfsExecutable(action)
        let temporary = AssetFiles.temporaryPath(for: path)
        defer { unlink(temporary) }
        let watcher: DescriptorWatcher
        do {
            watcher = try DescriptorWatcher(name: "corral-vm-mkfs")
        } catch {
            throw CorralError(.internal, "failed to \(action)", cause: error)
        }
        defer { watcher.shutdown() }
        let command = HostCommand(
            executable: mkfs, arguments: ["-q", "-F", "-t", "ext4", "-m", "0", "-L", "corral-volume", temporary, "\(sizeMB)M"])
        let outcome = try await command.run(
            watcher: watcher, deadline: HostProcess.monotonicNanoseconds() + Self.mkfsTimeoutSeconds * 1_000_000_000)
        if outcome.timedOut { throw .timeout("failed to \(action): mkfs.ext4 ran longer than \(Self.mkfsTimeoutSeconds) s") }
        guard outcome.exitCode == 0 else { throw .internal("failed to \(action): mkfs.ext4 failed: \(outcome.errorText)") }
        guard rename(temporary, path) == 0 else { throw AssetFiles.failure(action, "rename", path) }
    }

    /// Creates the qcow2 overlay `path` over the raw image `base` (atomically).
    /// Idempotent: an existing overlay of `base` is kept; one over another base is
    /// a conflict.
    public func createOverlay(base: String, at path: String) throws(CorralError) {
        let action = "create the overlay \(path)"
        if AssetFiles.exists(path) {
            let header = try Self.prefix(of: path, bytes: QCOW2Overlay.clusterSize, action: action)
            let backing = QCOW2Overlay.backingFile(ofHeader: header)
            if backing == base { return }
            throw .conflict("failed to \(action): it exists over \(backing ?? "no qcow2 backing file"), not \(base)")
        }
        var info = stat()
        guard stat(base, &info) == 0 else {
            throw AssetFiles.failure(action, "stat", base, notFound: errno == ENOENT)
        }
        guard base.hasPrefix("/"), base.utf8.count < 4096 else {
            throw .invalidArgument("failed to \(action): the base \(base) must be an absolute path")
        }
        let overlay = QCOW2Overlay(virtualSize: UInt64(info.st_size), backingFile: base)
        try AssetFiles.writeAtomically(path, [overlay.encoded()], mode: 0o600, action: action)
    }

    /// Removes the cached base of `digest`; a missing one is fine. Waits up to
    /// `removeWaitSeconds` for a build of it to end, then throws `timeout`.
    public func removeBase(digest: String) async throws(CorralError) {
        let action = "remove the root disk of \(digest)"
        let path = try basePath(digest: digest)
        guard AssetFiles.exists(cacheDirectory) else { return }
        // A build holds the lock for its whole run; so, for an instant, may a child
        // another thread forks before it execs (the descriptor is close-on-exec).
        let lock = try await acquireLock(path + ".lock", action: action, waitSeconds: Self.removeWaitSeconds)
        defer { close(lock) }
        if unlink(path) != 0, errno != ENOENT { throw AssetFiles.failure(action, "unlink", path) }
    }

    /// `<cache>/<algorithm>-<hex>.ext4`; anything but `algorithm:hex` in lowercase
    /// letters and digits is refused so a digest can never name another path.
    func basePath(digest: String) throws(CorralError) -> String {
        let parts = digest.split(separator: ":", omittingEmptySubsequences: false)
        let allowed: (Character) -> Bool = { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") }
        guard parts.count == 2, !parts[0].isEmpty, parts[1].count >= 16, parts.allSatisfy({ $0.allSatisfy(allowed) })
        else { throw .invalidArgument("failed to use image digest \(digest): expected <algorithm>:<hex>") }
        return "\(cacheDirectory)/\(parts[0])-\(parts[1]).ext4"
    }

    private func mkfsExecutable(_ action: String) throws(CorralError) -> String {
        if let mkfsPath { return mkfsPath }
        guard let found = ExecutableLookup.resolve("mkfs.ext4") else {
            throw .unavailable("failed to \(action): mkfs.ext4 is not installed (Debian package e2fsprogs)")
        }
        return found
    }

    /// An exclusive `flock` on `lockPath`, polled so no thread blocks while another
    /// builder holds it; gives up with `timeout` after `waitSeconds`.
    private func acquireLock(
        _ lockPath: String, action: String, waitSeconds: UInt64 = lockWaitSeconds
    ) async throws(CorralError) -> Int32 {
        let fd = try AssetFiles.openLock(lockPath, action: action)
        let deadline = HostProcess.monotonicNanoseconds() + waitSeconds * 1_000_000_000
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let failure = AssetFiles.failure(action, "flock", lockPath)
                close(fd)
                throw failure
            }
            guard HostProcess.monotonicNanoseconds() < deadline else {
                close(fd)
                throw .timeout("failed to \(action): a build held \(lockPath) for \(waitSeconds) s")
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return fd
    }

    private static func prefix(of path: String, bytes: Int, action: String) throws(CorralError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AssetFiles.failure(action, "open", path) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: bytes)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count >= 0 else { throw AssetFiles.failure(action, "read", path) }
        return Array(buffer[0..<count])
    }

    /// Runs blocking `work` (a tree walk) on a thread of its own.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws(CorralError) -> T) async throws(CorralError) -> T {
        let result: Result<T, CorralError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                do throws(CorralError) {
                    continuation.resume(returning: .success(try work()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.name = "corral-vm-disk"
            thread.start()
        }
        return try result.get()
    }
}

/// What a rootfs holds: bytes in 4 KiB blocks and the number of entries.
struct RootfsSize: Sendable, Equatable {
    var bytes: UInt64
    var entries: UInt64

    /// Inodes to ask for: twice the entries, at least 16 Ki.
    var inodes: UInt64 { max(16_384, entries * 2) }

    /// max(`minimum`, 2 × content) plus the inode tables (256 bytes an inode),
    /// rounded up to MiB.
    func imageBytes(minimum: UInt64) -> UInt64 {
        let total = max(minimum, bytes * 2) + inodes * 256
        return (total + (1 << 20) - 1) / (1 << 20) * (1 << 20)
    }

    /// Walks `root` without following symlinks; throws `notFound` when it is missing.
    static func measure(_ root: String) throws(CorralError) -> RootfsSize {
        var info = stat()
        guard lstat(root, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw .notFound("failed to measure rootfs \(root): not a directory")
        }
        var size = RootfsSize(bytes: 0, entries: 0)
        var pending = [root]
        while let directory = pending.popLast() {
            for name in AssetFiles.entries(directory) {
                let path = "\(directory)/\(name)"
                guard lstat(path, &info) == 0 else { continue }
                size.entries += 1
                let blocks = (UInt64(max(info.st_size, 0)) + 4095) / 4096
                size.bytes += max(blocks, 1) * 4096
                if (info.st_mode & S_IFMT) == S_IFDIR { pending.append(path) }
            }
        }
        return size
    }
}
