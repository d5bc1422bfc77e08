/// One image of the image store's index: a manifest digest and the names that
/// point at it.
public struct ImageIndexEntry: Codable, Sendable, Equatable {
    /// `sha256:<hex>` of the manifest.
    public var digest: String
    /// Normalised references, sorted; a name points at one image at most.
    public var references: [String]
    /// Seconds since 1970 when the image first entered the store.
    public var createdAt: Double
    /// Manifest, config and layer blobs, in bytes.
    public var sizeBytes: Int64

    public init(digest: String, references: [String], createdAt: Double, sizeBytes: Int64) {
        self.digest = digest
        self.references = references
        self.createdAt = createdAt
        self.sizeBytes = sizeBytes
    }
}

/// Where the image store keeps its index (which images it holds, and their
/// names): the state store, beside the instances pinned to those images.
///
/// Both calls block on disk I/O: call them off the Swift cooperative pool. The
/// image store serialises its writers itself (its index lock).
public protocol ImageIndexStore: Sendable {
    /// Every entry, in digest order.
    func readImageIndex() throws(CorralError) -> [ImageIndexEntry]

    /// Replaces the whole index in one durable transaction. The store refuses a
    /// name given to two images (`conflict`) and then changes nothing.
    func replaceImageIndex(_ entries: [ImageIndexEntry]) throws(CorralError)
}
