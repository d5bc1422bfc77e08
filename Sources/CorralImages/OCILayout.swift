#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CorralCore
import CorralHost
import CorralShimFormat
import Foundation

/// An OCI image layout on disk (`oci-layout`, `index.json`, `blobs/sha256/<hex>`).
///
/// Blobs are written to a uniquely named temporary file beside their final name,
/// fsynced, then renamed: a blob file, once present, is always complete. Callers
/// serialise writes of `index.json` (the store holds its index lock).
struct OCILayout: Sendable {
    let path: String

    var blobsDirectory: String { "\(path)/blobs" }
    var digestDirectory: String { "\(path)/blobs/sha256" }
    var indexPath: String { "\(path)/index.json" }

    /// The largest manifest or config the store reads.
    static let metadataLimit = 16 << 20

    /// The tag under which an image is listed in `index.json`, so umoci and skopeo
    /// can address it: `sha256-<hex>`.
    static func tag(for digest: ImageDigest) -> String { "sha256-\(digest.hex)" }

    /// Creates what is missing of the layout. Idempotent.
    func create() throws(CorralError) {
        do throws(SystemCallError) {
            try FileSystem.makeDirectories(digestDirectory)
            if !RawFile.exists("\(path)/oci-layout") {
                try RawFile.writeAtomically(
                    "\(path)/oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8), durable: true
                )
            }
        } catch {
            throw .internal("failed to create image layout \(path): \(error)")
        }
        if !RawFile.exists(indexPath) { try writeIndex(OCIIndex(manifests: [])) }
    }

    func blobPath(_ digest: ImageDigest) -> String { "\(digestDirectory)/\(digest.hex)" }

    /// Whether the blob is present (and, with `size`, has that size).
    func hasBlob(_ digest: ImageDigest, size: Int64? = nil) -> Bool {
        guard let identity = RawFile.identity(blobPath(digest)) else { return false }
        return size.map { $0 == identity.size } ?? true
    }

    /// A small blob's bytes, checked against its digest. Throws `notFound` when absent.
    func readBlob(_ digest: ImageDigest, action: String) throws(CorralError) -> [UInt8] {
        let bytes: [UInt8]?
        do throws(SystemCallError) {
            bytes = try RawFile.read(blobPath(digest), limit: Self.metadataLimit + 1)
        } catch {
            throw .internal("failed to \(action): \(error)")
        }
        guard let bytes else { throw .notFound("failed to \(action): blob \(digest) is missing from the store") }
        guard bytes.count <= Self.metadataLimit else {
            throw .invalidArgument("failed to \(action): blob \(digest) is larger than \(Self.metadataLimit) bytes")
        }
        guard ImageDigest.of(bytes) == digest else {
            throw .internal("failed to \(action): blob \(digest) does not match its digest (corrupt store)")
        }
        return bytes
    }

    /// Stores `bytes` as a blob (a no-op when it is already present) and returns its descriptor.
    func writeBlob(_ bytes: [UInt8], mediaType: String) throws(CorralError) -> OCIDescriptor {
        let digest = ImageDigest.of(bytes)
        if !hasBlob(digest, size: Int64(bytes.count)) {
            let temporary = temporaryBlobPath()
            do throws(SystemCallError) {
                try Self.writeDurably(temporary, bytes)
                try adopt(temporary, as: digest)
            } catch {
                try? RawFile.remove(temporary)
                throw .internal("failed to store blob \(digest): \(error)")
            }
        }
        return OCIDescriptor(mediaType: mediaType, digest: digest.description, size: Int64(bytes.count))
    }

    /// A fresh name for a blob being written, beside the blobs (same filesystem).
    func temporaryBlobPath() -> String {
        "\(digestDirectory)/.tmp-\(UUID().uuidString.lowercased())"
    }

    /// Renames a complete, fsynced file into place as blob `digest`.
    func adopt(_ temporary: String, as digest: ImageDigest) throws(SystemCallError) {
        if rename(temporary, blobPath(digest)) != 0 { throw .last("rename", path: blobPath(digest)) }
    }

    func readIndex() throws(CorralError) -> OCIIndex {
        let bytes: [UInt8]?
        do throws(SystemCallError) {
            bytes = try RawFile.read(indexPath, limit: Self.metadataLimit)
        } catch {
            throw .internal("failed to read image layout index: \(error)")
        }
        guard let bytes else { return OCIIndex(manifests: []) }
        return try StoreJSON.decode(OCIIndex.self, from: bytes, action: "read image layout index \(indexPath)")
    }

    func writeIndex(_ index: OCIIndex) throws(CorralError) {
        let bytes = try StoreJSON.encode(index, action: "write image layout index")
        do throws(SystemCallError) {
            try RawFile.writeAtomically(indexPath, bytes, durable: true)
        } catch {
            throw .internal("failed to write image layout index: \(error)")
        }
    }

    /// The manifest stored under `digest`; only OCI image manifests are accepted.
    func readManifest(_ digest: ImageDigest) throws(CorralError) -> OCIManifest {
        let action = "read manifest \(digest)"
        let manifest = try StoreJSON.decode(OCIManifest.self, from: readBlob(digest, action: action), action: action)
        if let mediaType = manifest.mediaType, mediaType != OCIMediaType.imageManifest {
            throw .unsupported("failed to \(action): media type \(mediaType) is not an OCI image manifest")
        }
        return manifest
    }

    func readConfig(of manifest: OCIManifest) throws(CorralError) -> OCIImageConfig {
        let digest = try ImageDigest.parse(manifest.config.digest, action: "read image config")
        let action = "read image config \(digest)"
        return try StoreJSON.decode(OCIImageConfig.self, from: readBlob(digest, action: action), action: action)
    }

    /// Writes `bytes` to a new file at `path` and fsyncs it.
    static func writeDurably(_ path: String, _ bytes: [UInt8]) throws(SystemCallError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 { throw .last("open", path: path) }
        defer { close(fd) }
        try RawFile.writeAll(fd: fd, bytes, path: path)
        if fsync(fd) != 0 { throw .last("fsync", path: path) }
    }
}

/// JSON as the store writes it: sorted keys, unescaped slashes, so the same value
/// always gives the same bytes (and the same digest).
enum StoreJSON {
    static func encode<T: Encodable>(_ value: T, action: String) throws(CorralError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(value))
        } catch {
            throw .internal("failed to \(action): \(error)")
        }
    }

    static func decode<T: Decodable>(
        _ type: T.Type, from bytes: [UInt8], action: String, code: CorralError.Code = .internal
    ) throws(CorralError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch {
            throw CorralError(code, "failed to \(action): invalid JSON: \(error)")
        }
    }
}
