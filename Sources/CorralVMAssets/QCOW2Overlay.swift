/// A new, empty qcow2 (version 3) image whose every cluster reads from a raw
/// backing file: what `qemu-img create -f qcow2 -b BASE -F raw` writes, built in
/// memory so creating an instance's disk runs no process.
///
/// Layout, 64 KiB clusters: cluster 0 the header, the backing format extension
/// (`raw`) and the backing file name; cluster 1 the refcount table; cluster 2 its
/// one refcount block (16-bit counts, covering 2 GiB of image file; QEMU adds more
/// as the overlay grows); clusters 3... the L1 table, all entries unallocated.
struct QCOW2Overlay {
    static let magic: UInt32 = 0x5146_49FB
    static let clusterBits: UInt32 = 16
    static let clusterSize = 1 << 16
    static let headerLength: UInt32 = 104
    static let backingFormatExtension: UInt32 = 0xE279_2ACA

    let virtualSize: UInt64
    let backingFile: String

    /// L1 entries: each L2 table maps `clusterSize / 8` clusters.
    var l1Entries: Int {
        let perL2 = UInt64(Self.clusterSize) * UInt64(Self.clusterSize / 8)
        return Int((virtualSize + perL2 - 1) / perL2)
    }

    var l1Clusters: Int { max(1, (l1Entries * 8 + Self.clusterSize - 1) / Self.clusterSize) }

    /// The whole image file; its clusters past the header are zero but for the
    /// refcount table entry and block.
    func encoded() -> [UInt8] {
        let clusters = 3 + l1Clusters
        var image = [UInt8](repeating: 0, count: clusters * Self.clusterSize)
        var header: [UInt8] = []
        header.appendBigEndian(Self.magic)
        header.appendBigEndian(UInt32(3))
        let extensionsEnd = Int(Self.headerLength) + 16 + 8
        header.appendBigEndian(UInt64(extensionsEnd))  // backing_file_offset
        header.appendBigEndian(UInt32(backingFile.utf8.count))
        header.appendBigEndian(Self.clusterBits)
        header.appendBigEndian(virtualSize)
        header.appendBigEndian(UInt32(0))  // crypt_method
        header.appendBigEndian(UInt32(l1Entries))
        header.appendBigEndian(UInt64(3 * Self.clusterSize))  // l1_table_offset
        header.appendBigEndian(UInt64(1 * Self.clusterSize))  // refcount_table_offset
        header.appendBigEndian(UInt32(1))  // refcount_table_clusters
        header.appendBigEndian(UInt32(0))  // nb_snapshots
        header.appendBigEndian(UInt64(0))  // snapshots_offset
        header.appendBigEndian(UInt64(0))  // incompatible_features
        header.appendBigEndian(UInt64(0))  // compatible_features
        header.appendBigEndian(UInt64(0))  // autoclear_features
        header.appendBigEndian(UInt32(4))  // refcount_order: 16-bit refcounts
        header.appendBigEndian(Self.headerLength)
        // Header extension: backing file format "raw", padded to 8 bytes; then the end marker.
        header.appendBigEndian(Self.backingFormatExtension)
        header.appendBigEndian(UInt32(3))
        header.append(contentsOf: Array("raw".utf8) + [0, 0, 0, 0, 0])
        header.appendBigEndian(UInt32(0))
        header.appendBigEndian(UInt32(0))
        header.append(contentsOf: Array(backingFile.utf8))
        image.replaceSubrange(0..<header.count, with: header)
        // Refcount table entry 0 → the refcount block in cluster 2.
        var entry: [UInt8] = []
        entry.appendBigEndian(UInt64(2 * Self.clusterSize))
        image.replaceSubrange(Self.clusterSize..<(Self.clusterSize + 8), with: entry)
        // Every metadata cluster is referenced once.
        for cluster in 0..<clusters {
            let offset = 2 * Self.clusterSize + cluster * 2
            image[offset] = 0
            image[offset + 1] = 1
        }
        return image
    }

    /// The backing file name of a qcow2 image's first bytes, or nil when they are
    /// not a qcow2 header.
    static func backingFile(ofHeader header: [UInt8]) -> String? {
        guard header.count >= 20, header.readBigEndian(UInt32.self, at: 0) == magic else { return nil }
        let offset = Int(header.readBigEndian(UInt64.self, at: 8))
        let size = Int(header.readBigEndian(UInt32.self, at: 16))
        guard offset > 0, size > 0, offset + size <= header.count else { return nil }
        return String(decoding: header[offset..<(offset + size)], as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        var big = value.bigEndian
        Swift.withUnsafeBytes(of: &big) { append(contentsOf: $0) }
    }

    func readBigEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for index in 0..<MemoryLayout<T>.size { value = (value << 8) | T(self[offset + index]) }
        return value
    }
}
