import CorralCore
import CorralHost
import CorralShimFormat

extension ImageStore {
    /// Builds the `busybox:latest` base image from the host's statically linked
    /// busybox (`Configuration.busyboxPath`) and names it so, with no network.
    ///
    /// The root filesystem holds `/bin/busybox`, a symlink per applet
    /// (`busybox --list-full`), `/etc/passwd` and `/etc/group` with root, and empty
    /// `/dev`, `/proc`, `/sys`, `/tmp` (1777) and `/root`; the config runs `sh` with
    /// `PATH=/usr/sbin:/usr/bin:/sbin:/bin`. Deterministic: the same busybox gives
    /// the same digest on every host. Concurrent calls share one build; a rebuild
    /// of an unchanged busybox changes nothing. Throws `unavailable` when busybox is
    /// missing or dynamically linked.
    public func buildBusyboxImage() async throws(CorralError) -> StoredImage {
        try await builds.run("busybox") { [self] () async -> Result<StoredImage, CorralError> in
            do throws(CorralError) {
                return .success(try await buildBusybox())
            } catch {
                return .failure(error)
            }
        }
    }

    private func buildBusybox() async throws(CorralError) -> StoredImage {
        let action = "build the busybox base image"
        let busybox = configuration.busyboxPath
        guard FileSystem.isExecutableFile(busybox) else {
            throw .unavailable("failed to \(action): \(busybox) is missing (install busybox-static)")
        }
        let listing = try await CommandRunner.run(busybox, ["--list-full"], timeout: .seconds(30), action: action)
        guard listing.status == 0 else {
            throw .internal("failed to \(action): \(busybox) --list-full exited with status \(listing.status)")
        }
        let applets = listing.stdout.split(whereSeparator: \.isNewline).map(String.init)
        let layout = self.layout
        return try await contentLock.withLock(.shared) { () throws(CorralError) -> StoredImage in
            let image = try await Blocking.run("corral-busybox-build") { () throws(CorralError) -> OCILayout.WrittenImage in
                let contents: [UInt8]?
                do throws(SystemCallError) {
                    contents = try RawFile.read(busybox, limit: 256 << 20)
                } catch {
                    throw .internal("failed to \(action): \(error)")
                }
                guard let binary = contents else {
                    throw .unavailable("failed to \(action): \(busybox) is missing (install busybox-static)")
                }
                guard !BusyboxRootfs.isDynamicallyLinked(binary) else {
                    throw .unavailable("failed to \(action): \(busybox) is dynamically linked (install busybox-static)")
                }
                let tar = BusyboxRootfs.layer(binary: binary, applets: applets)
                let layer = try layout.writeBlob(tar, mediaType: OCIMediaType.layer)
                let diffID = try ImageDigest.parse(layer.digest, action: action)
                return try layout.writeImage(
                    layers: [layer], diffIDs: [diffID],
                    runtime: .init(env: ["PATH=\(BusyboxRootfs.path)"], cmd: ["sh"]),
                    createdBy: "corral: busybox base image from the host's busybox-static"
                )
            }
            return try await register(manifest: image.digest, sizeBytes: image.sizeBytes, reference: Self.busyboxReference)
        }
    }
}
