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
    /// Imports an archive from an absolute path on this host.
    ///
    /// - `oci-archive`, `docker-archive`: copied in by skopeo (one image per
    ///   archive); named `reference` if given, else by the name the archive carries
    ///   (a docker archive's `RepoTags`, an OCI index's `io.containerd.image.name` or
    ///   a full reference in `org.opencontainers.image.ref.name`), else left
    ///   nameless and addressable by digest.
    /// - `rootfs`: a tar (plain, gzip or zstd) of a root filesystem becomes a
    ///   one-layer image named `reference` (required), kept as given (same bytes,
    ///   same layer digest). It is scanned first and refused with `invalidArgument`
    ///   naming the entry if it holds anything `rootfs(digest:)` would refuse;
    ///   nothing of a refused archive stays in the store.
    ///
    /// `progress` is called as for `pull`. Errors: `notFound` (no such file),
    /// `invalidArgument`, `unavailable` (skopeo missing), `timeout`.
    public func importArchive(
        path: String, format: ImageArchiveFormat, reference: String?,
        progress: @escaping @Sendable (ImageProgress) -> Void
    ) async throws(CorralError) -> StoredImage {
        let action = "import \(format.rawValue) archive '\(path)'"
        guard path.hasPrefix("/") else { throw .invalidArgument("failed to \(action): the path must be absolute") }
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw errno == ENOENT
                ? .notFound("failed to \(action): no such file")
                : .invalidArgument("failed to \(action): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .invalidArgument("failed to \(action): not a regular file") }
        let name = try reference.map { (text) throws(CorralError) -> String in try ImageReference(parsing: text).description }

        switch format {
        case .rootfsTar:
            guard let name else {
                throw .invalidArgument("failed to \(action): a rootfs archive needs a reference to name the image")
            }
            return try await importRootfs(path: path, name: name, action: action, progress: progress)
        case .ociArchive, .dockerArchive:
            let skopeo = try requireSkopeo(action)
            return try await contentLock.withLock(.shared) { () throws(CorralError) -> StoredImage in
                let work = try makeWorkDirectory("import", action: action)
                defer { removeWorkDirectory(work) }
                // skopeo splits transport arguments at ':'; a link keeps any path addressable.
                let link = "\(work)/archive.tar"
                guard symlink(path, link) == 0 else {
                    throw .internal("failed to \(action): symlink: \(String(cString: strerror(errno)))")
                }
                var archiveName = name
                if archiveName == nil {
                    archiveName = try await Blocking.run("corral-archive-name") { () throws(CorralError) -> String? in
                        Self.archiveName(path, format: format)
                    }
                }
                let copied = try await copyWithSkopeo(
                    skopeo,
                    ["copy", "--dest-shared-blob-dir", layout.blobsDirectory, "\(format.rawValue):\(link)", "oci:\(work)/layout:image"],
                    work: work, timeout: configuration.importTimeout, action: action, progress: progress
                )
                return try await register(manifest: copied.digest, sizeBytes: copied.sizeBytes, reference: archiveName)
            }
        }
    }

    private func importRootfs(
        path: String, name: String, action: String, progress: @escaping @Sendable (ImageProgress) -> Void
    ) async throws(CorralError) -> StoredImage {
        try await contentLock.withLock(.shared) { () throws(CorralError) -> StoredImage in
            let work = try makeWorkDirectory("import", action: action)
            defer { removeWorkDirectory(work) }
            progress(ImageProgress(layersDone: 0, layersTotal: 1, bytesDone: 0, message: "scanning \(path)"))
            let layout = self.layout
            let (layer, image) = try await Blocking.run("corral-rootfs-import") { [self] () throws(CorralError) -> (OCIDescriptor, OCILayout.WrittenImage) in
                let copy = "\(work)/layer"
                let (digest, size) = try Self.copyHashing(from: path, to: copy, action: action)
                let compression: LayerCompression
                do throws(ArchiveProblem) {
                    compression = LayerCompression.sniff(try FileByteSource.prefix(of: copy, count: 4))
                } catch {
                    throw Self.archiveError(error, action: action, position: nil)
                }
                var scanner = LayerScanner()
                let diffID: ImageDigest?
                do throws(ArchiveProblem) {
                    diffID = try scanLayerFile(
                        copy, compression: compression, layer: 0, scanner: &scanner, hashing: compression != .none
                    )
                } catch {
                    throw Self.archiveError(error, action: action, position: nil)
                }
                if !layout.hasBlob(digest, size: size) {
                    do throws(SystemCallError) {
                        try layout.adopt(copy, as: digest)
                    } catch {
                        throw .internal("failed to \(action): \(error)")
                    }
                }
                let layer = OCIDescriptor(mediaType: compression.layerMediaType, digest: digest.description, size: size)
                let image = try layout.writeImage(
                    layers: [layer], diffIDs: [diffID ?? digest], runtime: .init(env: ["PATH=\(BusyboxRootfs.path)"]),
                    createdBy: "corral: imported rootfs archive"
                )
                return (layer, image)
            }
            progress(ImageProgress(layersDone: 1, layersTotal: 1, bytesDone: layer.size, message: "stored layer \(layer.digest)"))
            return try await register(manifest: image.digest, sizeBytes: image.sizeBytes, reference: name)
        }
    }

    /// Copies `source` to a new file `destination`, fsyncs it, and returns the
    /// digest and size of what was copied.
    private static func copyHashing(from source: String, to destination: String, action: String) throws(CorralError) -> (ImageDigest, Int64) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw .internal("failed to \(action): open: \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw .internal("failed to \(action): open \(destination): \(String(cString: strerror(errno)))") }
        defer { close(output) }
        var hasher = SHA256()
        var size: Int64 = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(input, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw .internal("failed to \(action): read: \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            chunk.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            do throws(SystemCallError) {
                try RawFile.writeAll(fd: output, Array(chunk[0..<count]), path: destination)
            } catch {
                throw .internal("failed to \(action): \(error)")
            }
            size += Int64(count)
        }
        guard fsync(output) == 0 else { throw .internal("failed to \(action): fsync: \(String(cString: strerror(errno)))") }
        return (ImageDigest.finishing(&hasher), size)
    }

    /// The image name an archive carries, if it carries exactly one valid name.
    static func archiveName(_ path: String, format: ImageArchiveFormat) -> String? {
        let wanted = format == .dockerArchive ? "manifest.json" : "index.json"
        guard let source = try? FileByteSource(path: path) else { return nil }
        let reader = TarReader(source: source)
        var content: [UInt8]?
        while let entry = try? reader.next() {
            let name = entry.displayPath.hasPrefix("./") ? String(entry.displayPath.dropFirst(2)) : entry.displayPath
            if entry.kind == .regular, name == wanted {
                content = try? reader.readContent(limit: 4 << 20)
                break
            }
        }
        guard let content else { return nil }
        var candidate: String?
        if format == .dockerArchive {
            struct Item: Decodable {
                var RepoTags: [String]?
            }
            guard let items = try? JSONDecoder().decode([Item].self, from: Data(content)), items.count == 1 else { return nil }
            candidate = items.first?.RepoTags?.first
        } else {
            guard let index = try? JSONDecoder().decode(OCIIndex.self, from: Data(content)), index.manifests.count == 1,
                let annotations = index.manifests.first?.annotations
            else { return nil }
            if let full = annotations[OCIAnnotation.containerdImageName] {
                candidate = full
            } else if let name = annotations[OCIAnnotation.referenceName], name.contains("/") || name.contains(":") {
                candidate = name
            }
        }
        return candidate.flatMap { try? ImageReference(parsing: $0).description }
    }
}
