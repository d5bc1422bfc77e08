import CorralCore

/// The store's own index: which images it holds and which names point at each.
///
/// Kept in the state store (`ImageIndexStore`); older Corrals kept it as
/// `images.json` in the store root, which is imported once (hence `Codable`). It
/// is the source of truth: content (blobs, the layout's `index.json`, unpacked
/// root filesystems) not reachable from it is garbage.
struct ImageCatalog: Codable, Sendable, Equatable {
    typealias Record = ImageIndexEntry

    static let currentVersion = 1

    var version: Int = currentVersion
    var images: [Record] = []

    func record(for digest: ImageDigest) -> Record? {
        images.first { $0.digest == digest.description }
    }

    /// The image a normalised reference names.
    func record(named reference: String) -> Record? {
        images.first { $0.references.contains(reference) }
    }

    /// Adds the image if it is new; returns its record.
    @discardableResult
    mutating func insert(_ digest: ImageDigest, sizeBytes: Int64, now: Double) -> Record {
        if let existing = record(for: digest) { return existing }
        let record = Record(digest: digest.description, references: [], createdAt: now, sizeBytes: sizeBytes)
        images.append(record)
        return record
    }

    /// Points `reference` at `digest`, taking it from any image that had it. The
    /// image that loses it stays in the catalog, nameless, until pruned.
    mutating func assign(_ reference: String, to digest: ImageDigest) {
        for index in images.indices {
            if images[index].digest == digest.description {
                if !images[index].references.contains(reference) {
                    images[index].references.append(reference)
                    images[index].references.sort()
                }
            } else {
                images[index].references.removeAll { $0 == reference }
            }
        }
    }

    /// Removes a name; returns the image that had it.
    mutating func unassign(_ reference: String) -> Record? {
        guard let index = images.firstIndex(where: { $0.references.contains(reference) }) else { return nil }
        images[index].references.removeAll { $0 == reference }
        return images[index]
    }

    mutating func remove(_ digest: ImageDigest) {
        images.removeAll { $0.digest == digest.description }
    }

    /// The digests of every image, in catalog order. Records with an invalid
    /// digest are skipped (they cannot have been written by the store).
    var digests: [ImageDigest] { images.compactMap { ImageDigest($0.digest) } }
}
