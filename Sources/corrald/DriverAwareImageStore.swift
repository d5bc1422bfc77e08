import CorralCore
import CorralDriverContainer
import CorralDriverVM
import CorralImages
import Logging

/// The image store as the API serves it: an image removed or pruned takes with it
/// the ext4 base disk the vm driver built from it. No instance can still have an
/// overlay over that disk: the store refuses to remove an image any instance,
/// running or stopped, is pinned to. The container driver's standbys, which are
/// not instances, are discarded before any removal (they come back with the next
/// start of their image), so none is left over a root file system that is gone.
struct DriverAwareImageStore: ImageStoreService {
    let images: ImageStore
    let containers: ContainerDriver
    let vm: VMDriver?
    let logger: Logger

    func resolve(_ reference: String, policy: PullPolicy) async throws(CorralError) -> ResolvedImage {
        try await images.resolve(reference, policy: policy)
    }

    func rootfs(digest: String) async throws(CorralError) -> String {
        try await images.rootfs(digest: digest)
    }

    func config(digest: String) async throws(CorralError) -> ImageRuntimeConfig {
        try await images.config(digest: digest)
    }

    func list() async throws(CorralError) -> [StoredImage] {
        try await images.list()
    }

    func pull(
        _ reference: String, options: PullOptions, progress: @escaping @Sendable (ImageProgress) -> Void
    ) async throws(CorralError) -> StoredImage {
        try await images.pull(reference, options: options, progress: progress)
    }

    func importArchive(
        path: String, format: ImageArchiveFormat, reference: String?,
        progress: @escaping @Sendable (ImageProgress) -> Void
    ) async throws(CorralError) -> StoredImage {
        try await images.importArchive(path: path, format: format, reference: reference, progress: progress)
    }

    func remove(_ reference: String, inUse: Set<String>) async throws(CorralError) -> [String] {
        await containers.discardStandbys()
        return await collect(try await images.remove(reference, inUse: inUse))
    }

    func prune(inUse: Set<String>) async throws(CorralError) -> [String] {
        await containers.discardStandbys()
        return await collect(try await images.prune(inUse: inUse))
    }

    /// Removes the base disks of `removed`. The image is gone either way: a disk
    /// that cannot be removed is logged and left, taking space but never used.
    private func collect(_ removed: [String]) async -> [String] {
        guard let vm else { return removed }
        for digest in removed {
            do throws(CorralError) {
                try await vm.removeBaseDisk(digest: digest)
            } catch {
                logger.warning("cannot remove the VM base disk of a removed image", metadata: ["digest": "\(digest)", "error": "\(error)"])
            }
        }
        return removed
    }
}
