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
    static let catalogLimit = 64 << 20

    /// The catalog as last written; empty when the store is new.
    func readCatalog() throws(CorralError) -> ImageCatalog {
        ImageCatalog(images: try index.readImageIndex())
    }

    private func writeCatalog(_ catalog: ImageCatalog) throws(CorralError) {
        try index.replaceImageIndex(catalog.images)
    }

    /// Changes the catalog under the index lock and brings the layout's `index.json`
    /// in line with it (one entry per image, tagged `sha256-<hex>`).
    ///
    /// New entries reach `index.json` before the catalog names them; entries of
    /// removed images leave it after. `body` may throw to change nothing. The
    /// reads, writes and fsyncs run on a thread of their own.
    func updateCatalog<T: Sendable>(
        _ body: @escaping @Sendable (inout ImageCatalog) throws(CorralError) -> T
    ) async throws(CorralError) -> T {
        try await indexLock.withLock(.exclusive) { () throws(CorralError) -> T in
            try await Blocking.run("corral-image-index") { [self] () throws(CorralError) -> T in
                let before = try readCatalog()
                var catalog = before
                let result = try body(&catalog)
                guard catalog != before else { return result }
                let current = try layout.readIndex().manifests
                var wanted: [OCIDescriptor] = []
                for digest in catalog.digests {
                    let tag = OCILayout.tag(for: digest)
                    if let existing = current.first(where: {
                        $0.digest == digest.description && $0.annotations?[OCIAnnotation.referenceName] == tag
                    }) {
                        wanted.append(existing)
                        continue
                    }
                    let manifest = try layout.readBlob(digest, action: "index image \(digest)")
                    wanted.append(
                        OCIDescriptor(
                            mediaType: OCIMediaType.imageManifest, digest: digest.description,
                            size: Int64(manifest.count), annotations: [OCIAnnotation.referenceName: tag]
                        )
                    )
                }
                let added = wanted.filter { !current.contains($0) }
                if !added.isEmpty { try layout.writeIndex(OCIIndex(manifests: current + added)) }
                try writeCatalog(catalog)
                if wanted != current + added { try layout.writeIndex(OCIIndex(manifests: wanted)) }
                return result
            }
        }
    }

    /// Records a stored image (its blobs are all present) and, if given, points
    /// `reference` at it. Returns what `list` would show for it.
    func register(
        manifest digest: ImageDigest, sizeBytes: Int64, reference: String?
    ) async throws(CorralError) -> StoredImage {
        let now = Date().timeIntervalSince1970
        let record = try await updateCatalog { (catalog) throws(CorralError) -> ImageCatalog.Record in
            catalog.insert(digest, sizeBytes: sizeBytes, now: now)
            if let reference { catalog.assign(reference, to: digest) }
            guard let record = catalog.record(for: digest) else {
                throw .internal("failed to register image \(digest): missing after insert")
            }
            return record
        }
        return try await storedImage(record)
    }

    /// Imports the `images.json` of an older Corral into the index, once: when the
    /// index is empty it takes the file's images (or, if the file cannot be
    /// decoded, every image of the layout's index, without names); then the file
    /// is renamed `images.json.imported` (`images.json.corrupt-<time>`).
    func importLegacyCatalog() throws(CorralError) {
        try indexLock.withLockBlocking(.exclusive) { () throws(CorralError) in
            let bytes: [UInt8]?
            do throws(SystemCallError) {
                bytes = try RawFile.read(legacyCatalogPath, limit: Self.catalogLimit)
            } catch {
                throw .internal("failed to read legacy image index \(legacyCatalogPath): \(error)")
            }
            guard let bytes else { return }
            let legacy = try? StoreJSON.decode(ImageCatalog.self, from: bytes, action: "read legacy image index")
            if try readCatalog().images.isEmpty {
                let imported: ImageCatalog
                if let legacy { imported = legacy } else { imported = try catalogFromLayout() }
                try writeCatalog(imported)
            }
            let aside = legacy != nil ? "\(legacyCatalogPath).imported" : "\(legacyCatalogPath).corrupt-\(Int(Date().timeIntervalSince1970))"
            if rename(legacyCatalogPath, aside) != 0 {
                throw .internal("failed to set aside legacy image index: \(String(cString: strerror(errno)))")
            }
            if legacy == nil {
                logger.error("legacy image index could not be decoded; set aside, images imported without names", metadata: ["file": "\(aside)"])
            }
        }
    }

    /// Every image of the layout's index, without names.
    private func catalogFromLayout() throws(CorralError) -> ImageCatalog {
        var catalog = ImageCatalog()
        for descriptor in try layout.readIndex().manifests {
            guard let digest = ImageDigest(descriptor.digest),
                let manifest = try? layout.readManifest(digest)
            else { continue }
            let size = descriptor.size + manifest.config.size + manifest.layers.reduce(0) { $0 + $1.size }
            catalog.insert(digest, sizeBytes: size, now: Date().timeIntervalSince1970)
        }
        return catalog
    }

    /// A new, empty work directory under `tmp/`, removed by the caller (or, after a
    /// crash, by the next garbage collection).
    func makeWorkDirectory(_ purpose: String, action: String) throws(CorralError) -> String {
        let path = "\(workDirectory)/\(purpose)-\(UUID().uuidString.lowercased())"
        do throws(SystemCallError) {
            try FileSystem.makeDirectories(path, mode: 0o700)
        } catch {
            throw .internal("failed to \(action): \(error)")
        }
        return path
    }

    func removeWorkDirectory(_ path: String) {
        do throws(SystemCallError) {
            try FileSystem.removeTree(path)
        } catch {
            logger.warning("cannot remove work directory", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }

    /// The environment of skopeo and umoci: the daemon's, with temporary files
    /// kept inside the store.
    var toolEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["TMPDIR"] = workDirectory
        return environment
    }
}
