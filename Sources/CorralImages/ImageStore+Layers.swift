import CorralCore

extension ImageStore {
    /// Reads a layer file through `scanner` as layer number `layer`, decompressing
    /// it as `compression` says. With `hashing`, returns the digest of the
    /// uncompressed stream (the layer's diff ID).
    func scanLayerFile(
        _ path: String, compression: LayerCompression, layer: Int, scanner: inout LayerScanner, hashing: Bool
    ) throws(ArchiveProblem) -> ImageDigest? {
        if compression != .none, LayerCompression.sniff(try FileByteSource.prefix(of: path, count: 4)) != compression {
            throw .malformed("the blob is not \(compression == .gzip ? "gzip" : "zstd") data as its media type says")
        }
        let source: any ByteSource
        switch compression {
        case .none:
            source = try FileByteSource(path: path)
        case .gzip:
            guard let gzip = configuration.gzipPath else { throw .unreadable("gzip is not installed") }
            source = try DecompressorByteSource(tool: gzip, path: path)
        case .zstd:
            guard let zstd = configuration.zstdPath else { throw .unreadable("zstd is not installed") }
            source = try DecompressorByteSource(tool: zstd, path: path)
        }
        let hasher = hashing ? HashingByteSource(source) : nil
        let reader = TarReader(source: hasher ?? source)
        do throws(ArchiveProblem) {
            try scanner.scan(reader, layer: layer)
            if hashing || compression != .none { try reader.drain() }
            try source.finish(complete: true)
        } catch {
            try? source.finish(complete: false)
            throw error
        }
        return hasher?.digest()
    }

    /// Scans every layer of an image, lowest first, refusing it as a whole if any
    /// entry is unsafe. Nothing is written.
    func scanLayers(of manifest: OCIManifest, action: String) throws(CorralError) {
        var scanner = LayerScanner()
        for (index, layer) in manifest.layers.enumerated() {
            let digest = try ImageDigest.parse(layer.digest, action: action)
            let position = "layer \(index + 1) of \(manifest.layers.count) (\(digest))"
            guard let compression = LayerCompression(mediaType: layer.mediaType) else {
                throw .unsupported("failed to \(action): \(position) has media type \(layer.mediaType), which is not a layer type the store unpacks")
            }
            do throws(ArchiveProblem) {
                _ = try scanLayerFile(
                    layout.blobPath(digest), compression: compression, layer: index, scanner: &scanner, hashing: false
                )
            } catch {
                throw Self.archiveError(error, action: action, position: position)
            }
        }
    }

    /// `invalidArgument` for a refused or malformed archive, `internal` for one
    /// that could not be read.
    static func archiveError(_ problem: ArchiveProblem, action: String, position: String?) -> CorralError {
        let location = position.map { "\($0): " } ?? ""
        switch problem.kind {
        case .refused, .malformed:
            return .invalidArgument("failed to \(action): \(location)\(problem)")
        case .unreadable:
            return .internal("failed to \(action): \(location)\(problem)")
        }
    }
}
