#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CorralCore
import CorralHost
import CorralShimFormat
import Foundation

extension ImageStore {
    /// The unpacked root filesystem of a stored image, `<root>/rootfs/<hex>`,
    /// unpacked on first use. Shared by every instance of the image: callers must
    /// treat it as read-only (an overlay lower layer, a base to copy).
    ///
    /// Before anything is written, every layer is scanned and the image refused
    /// with `invalidArgument` (naming the layer and the entry) if any entry could
    /// write outside the root filesystem or is a device node; see `LayerScanner`.
    /// umoci then unpacks into a work directory, the result is synced and renamed
    /// into place, so the path, once returned, always holds a complete tree and a
    /// failed or refused unpack leaves nothing behind. Concurrent calls for one
    /// digest on this object share one unpack; another process unpacking the same
    /// digest at the same time is harmless (the first rename wins, the other copy
    /// is discarded). Throws `notFound` for an image not in the store and
    /// `unavailable` without umoci.
    public func rootfs(digest text: String) async throws(CorralError) -> String {
        let digest = try ImageDigest.parse(text, action: "unpack image")
        let target = "\(rootfsDirectory)/\(digest.hex)"
        if Self.isDirectory(target) { return target }
        guard try readCatalog().record(for: digest) != nil else {
            throw .notFound("failed to unpack image \(digest): no stored image has this digest")
        }
        return try await unpacks.run(digest.hex) { [self] () async -> Result<String, CorralError> in
            do throws(CorralError) {
                return .success(try await unpack(digest, into: target))
            } catch {
                return .failure(error)
            }
        }
    }

    private func unpack(_ digest: ImageDigest, into target: String) async throws(CorralError) -> String {
        let action = "unpack image \(digest)"
        guard let umoci = configuration.umociPath else {
            throw .unavailable("failed to \(action): umoci is not installed")
        }
        return try await contentLock.withLock(.shared) { () throws(CorralError) -> String in
            if Self.isDirectory(target) { return target }
            let manifest = try layout.readManifest(digest)
            let clock = ContinuousClock()
            let started = clock.now
            try await Blocking.run("corral-layer-scan") { [self] () throws(CorralError) in
                try scanLayers(of: manifest, action: action)
            }
            let scanned = clock.now

            let work = try makeWorkDirectory("unpack", action: action)
            defer { removeWorkDirectory(work) }
            // Without root umoci cannot chown or mknod; --rootless records ownership in xattrs instead.
            let rootless = getuid() == 0 ? [] : ["--rootless"]
            let output = try await CommandRunner.run(
                umoci,
                ["raw", "unpack"] + rootless + ["--image", "\(layout.path):\(OCILayout.tag(for: digest))", "\(work)/rootfs"],
                environment: toolEnvironment, timeout: configuration.unpackTimeout, action: action
            )
            guard output.status == 0 else {
                throw .internal("failed to \(action): umoci: \(Self.lastMeaningfulLine(output.stderr) ?? "exit status \(output.status)")")
            }
            let rootfsDirectory = self.rootfsDirectory
            try await Blocking.run("corral-rootfs-commit") { () throws(CorralError) in
                try Self.commitDirectory("\(work)/rootfs", to: target, parent: rootfsDirectory, action: action)
            }
            logger.info(
                "image unpacked",
                metadata: [
                    "digest": "\(digest)", "layers": "\(manifest.layers.count)",
                    "scan": "\(scanned - started)", "unpack": "\(clock.now - scanned)",
                ]
            )
            return target
        }
    }

    /// Syncs a finished tree to disk and renames it to `target`; another process
    /// having put the same content there first is success.
    private static func commitDirectory(_ source: String, to target: String, parent: String, action: String) throws(CorralError) {
        let fd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .internal("failed to \(action): open \(source): \(String(cString: strerror(errno)))") }
        let synced = syncFilesystem(fd)
        close(fd)
        guard synced == 0 else { throw .internal("failed to \(action): syncfs: \(String(cString: strerror(errno)))") }
        if rename(source, target) != 0 {
            guard (errno == EEXIST || errno == ENOTEMPTY), isDirectory(target) else {
                throw .internal("failed to \(action): rename to \(target): \(String(cString: strerror(errno)))")
            }
        }
        let directory = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }

    /// `syncfs(2)`: flushes the filesystem holding `fd`. Glibc declares it only
    /// under `_GNU_SOURCE`, which the Swift module does not see, so it is looked
    /// up at run time; without it, `sync(2)`.
    private static func syncFilesystem(_ fd: Int32) -> Int32 {
        typealias SyncFS = @convention(c) (Int32) -> Int32
        guard let symbol = dlsym(nil, "syncfs") else {
            sync()
            return 0
        }
        return unsafeBitCast(symbol, to: SyncFS.self)(fd)
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func lastMeaningfulLine(_ text: String) -> String? {
        let lines = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        return lines.last { $0.localizedCaseInsensitiveContains("error") } ?? lines.last
    }
}
