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
    /// Removes a name (`busybox`, `host:5000/app:1`, `name@sha256:…`) or, given a
    /// bare `sha256:…`, an image with all its names.
    ///
    /// When the last name of an image goes, the image goes with it: its catalog
    /// entry, its unpacked root filesystem, and every blob no other stored image
    /// references. An image whose digest is in `inUse` is never deleted: removing
    /// its last name (or its digest) throws `conflict`; removing one of several
    /// names is allowed. Returns the digests deleted (empty when only a name went).
    /// Waits for pulls, imports and unpacks in progress to finish first.
    public func remove(_ reference: String, inUse: Set<String>) async throws(CorralError) -> [String] {
        let action = "remove image '\(reference)'"
        let name: String?
        let pinned: ImageDigest?
        if reference.hasPrefix("sha256:") {
            name = nil
            pinned = try ImageDigest.parse(reference, action: action)
        } else {
            let parsed = try ImageReference(parsing: reference)
            name = parsed.description
            pinned = parsed.digest
        }
        return try await contentLock.withLock(.exclusive) { () throws(CorralError) -> [String] in
            let removed = try await updateCatalog { (catalog) throws(CorralError) -> [ImageDigest] in
                if let name, let record = catalog.record(named: name), let digest = ImageDigest(record.digest) {
                    if record.references.count > 1 {
                        _ = catalog.unassign(name)
                        return []
                    }
                    guard !inUse.contains(digest.description) else {
                        throw .conflict("failed to \(action): \(digest) is in use by instances; delete them first")
                    }
                    catalog.remove(digest)
                    return [digest]
                }
                guard let pinned, catalog.record(for: pinned) != nil else {
                    throw .notFound("failed to \(action): no such image in the store")
                }
                guard !inUse.contains(pinned.description) else {
                    throw .conflict("failed to \(action): \(pinned) is in use by instances; delete them first")
                }
                catalog.remove(pinned)
                return [pinned]
            }
            if !removed.isEmpty { try await collectGarbage() }
            return removed.map(\.description)
        }
    }

    /// Removes every image whose digest is not in `inUse`, named or not, then
    /// collects garbage (unreferenced blobs, stray root filesystems, work
    /// directories left by a crash). Returns the digests removed, sorted.
    public func prune(inUse: Set<String>) async throws(CorralError) -> [String] {
        try await contentLock.withLock(.exclusive) { () throws(CorralError) -> [String] in
            let removed = try await updateCatalog { (catalog) throws(CorralError) -> [ImageDigest] in
                let victims = catalog.digests.filter { !inUse.contains($0.description) }
                for digest in victims { catalog.remove(digest) }
                return victims
            }
            try await collectGarbage()
            return removed.map(\.description).sorted()
        }
    }

    /// Deletes what the catalog no longer reaches. Runs with the content lock held
    /// exclusively, so no pull, import or unpack is writing.
    private func collectGarbage() async throws(CorralError) {
        let catalog = try readCatalog()
        let keep = Set(catalog.digests)
        configCache.withLock { cache in cache = cache.filter { keep.contains($0.key) } }
        let layout = self.layout
        let rootfsDirectory = self.rootfsDirectory
        let workDirectory = self.workDirectory
        let logger = self.logger
        try await Blocking.run("corral-image-gc") { () throws(CorralError) in
            do throws(SystemCallError) {
                for name in try FileSystem.entries(of: workDirectory) {
                    try FileSystem.removeTree("\(workDirectory)/\(name)")
                }
                for name in try FileSystem.entries(of: rootfsDirectory) {
                    if let digest = ImageDigest(hex: name), keep.contains(digest) { continue }
                    // Renamed away first, so a crash mid-delete never leaves a partial tree at its real name.
                    let trash = "\(workDirectory)/trash-\(UUID().uuidString.lowercased())"
                    if rename("\(rootfsDirectory)/\(name)", trash) != 0 { throw .last("rename", path: "\(rootfsDirectory)/\(name)") }
                    try FileSystem.removeTree(trash)
                }
            } catch {
                throw .internal("failed to collect unused images: \(error)")
            }

            var reachable = Set<String>()
            for digest in keep {
                reachable.insert(digest.hex)
                do throws(CorralError) {
                    let manifest = try layout.readManifest(digest)
                    for blob in [manifest.config] + manifest.layers {
                        if let blobDigest = ImageDigest(blob.digest) { reachable.insert(blobDigest.hex) }
                    }
                } catch {
                    logger.error(
                        "image manifest unreadable; keeping all blobs", metadata: ["digest": "\(digest)", "error": "\(error)"]
                    )
                    return
                }
            }
            do throws(SystemCallError) {
                for name in try FileSystem.entries(of: layout.digestDirectory) where !reachable.contains(name) {
                    try RawFile.remove("\(layout.digestDirectory)/\(name)")
                }
            } catch {
                throw .internal("failed to collect unused blobs: \(error)")
            }
        }
    }
}
