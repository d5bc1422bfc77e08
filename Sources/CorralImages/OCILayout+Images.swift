import CorralCore

extension OCILayout {
    /// A written image: its manifest digest and the size of all its blobs.
    struct WrittenImage: Sendable {
        var digest: ImageDigest
        var sizeBytes: Int64
    }

    /// Writes the config and manifest of an image whose layer blobs are already
    /// stored. Deterministic: the same layers, runtime config and history give the
    /// same manifest digest (the creation time is the epoch).
    func writeImage(
        layers: [OCIDescriptor], diffIDs: [ImageDigest], runtime: OCIImageConfig.Runtime, createdBy: String
    ) throws(CorralError) -> WrittenImage {
        let epoch = "1970-01-01T00:00:00Z"
        let config = OCIImageConfig(
            created: epoch,
            architecture: OCIImageConfig.hostArchitecture,
            os: "linux",
            config: runtime,
            rootfs: .init(type: "layers", diffIDs: diffIDs.map(\.description)),
            history: [.init(created: epoch, createdBy: createdBy)]
        )
        let configDescriptor = try writeBlob(
            StoreJSON.encode(config, action: "write image config"), mediaType: OCIMediaType.imageConfig
        )
        let manifestBytes = try StoreJSON.encode(
            OCIManifest(config: configDescriptor, layers: layers), action: "write image manifest"
        )
        let manifest = try writeBlob(manifestBytes, mediaType: OCIMediaType.imageManifest)
        let size = manifest.size + configDescriptor.size + layers.reduce(0) { $0 + $1.size }
        return WrittenImage(digest: ImageDigest.of(manifestBytes), sizeBytes: size)
    }
}
