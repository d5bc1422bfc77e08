/// A volume created with its instance (Unikraft Cloud's inline `size_mb` + `at`):
/// an empty ext4 disk of its own, kept across stop and start, removed with the
/// instance.
public struct VolumeSpec: Codable, Sendable, Equatable {
    public var sizeMB: Int
    /// Where it is mounted inside the instance; absolute.
    public var mountPoint: String
    public var readOnly: Bool

    public init(sizeMB: Int, mountPoint: String, readOnly: Bool = false) {
        self.sizeMB = sizeMB
        self.mountPoint = mountPoint
        self.readOnly = readOnly
    }

    /// The largest volume created with an instance: 1 TiB, sparse.
    public static let maximumSizeMB = 1 << 20
}
