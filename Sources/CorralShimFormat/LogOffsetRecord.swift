/// Where a log segment starts in the instance's absolute log offsets:
/// `<instance>/log.offset`, rewritten atomically by `corral-shim` after each rotation.
///
/// The record names its segment by inode rather than by file name. Rotation renames
/// `log` to `log.1` before the new record is written, so a record naming the inode
/// that is now `log.1` still resolves correctly: no crash point between the rename
/// and the rewrite leaves offsets ambiguous.
public struct LogOffsetRecord: Equatable, Sendable {
    /// Absolute offset of the first byte of the segment with inode `inode`.
    public var base: Int64
    public var inode: UInt64

    public init(base: Int64, inode: UInt64) {
        self.base = base
        self.inode = inode
    }

    static let magic = "corral-log"
    static let recordName = "log offset record"

    public func encode() -> [UInt8] {
        var text = KeyValueText()
        text.append("base", base)
        text.append("inode", inode)
        return text.encode(magic: Self.magic, version: 1)
    }

    public static func parse(_ bytes: [UInt8]) throws(ShimFormatError) -> LogOffsetRecord {
        let fields = try KeyValueText.parse(bytes, magic: magic, record: recordName)
        let base = try fields.required("base", as: Int64.self, record: recordName)
        guard base >= 0 else { throw ShimFormatError(record: recordName, reason: "negative base") }
        return LogOffsetRecord(base: base, inode: try fields.required("inode", as: UInt64.self, record: recordName))
    }
}

/// The two segments of an instance log placed on the absolute offset axis.
public struct LogSegments: Equatable, Sendable {
    /// A segment file: its first absolute offset and its length.
    public struct Segment: Equatable, Sendable {
        public var base: Int64
        public var size: Int64
        public var end: Int64 { base + size }

        public init(base: Int64, size: Int64) {
            self.base = base
            self.size = size
        }
    }

    /// `log.1`, when it exists and fits before `current`.
    public var previous: Segment?
    /// `log`; a missing file is an empty segment.
    public var current: Segment

    public init(previous: Segment?, current: Segment) {
        self.previous = previous
        self.current = current
    }

    /// The first offset still retained.
    public var availableStart: Int64 { previous?.base ?? current.base }
    /// One past the last offset written.
    public var availableEnd: Int64 { current.end }

    /// Places the segments from the offset record and the identities of the two
    /// files (nil when absent).
    public static func resolve(
        record: LogOffsetRecord?,
        current: (inode: UInt64, size: Int64)?,
        previous: (inode: UInt64, size: Int64)?
    ) -> LogSegments {
        let currentSize = current?.size ?? 0
        guard let record else {
            // No rotation has completed its record yet: `log.1`, if any, is the first segment.
            let previousSegment = previous.map { Segment(base: 0, size: $0.size) }
            return LogSegments(previous: previousSegment, current: Segment(base: previousSegment?.end ?? 0, size: currentSize))
        }
        if let previous, previous.inode == record.inode, current?.inode != record.inode {
            // The rename happened, the new record was not written yet.
            let previousSegment = Segment(base: record.base, size: previous.size)
            return LogSegments(previous: previousSegment, current: Segment(base: previousSegment.end, size: currentSize))
        }
        let currentSegment = Segment(base: record.base, size: currentSize)
        var previousSegment: Segment?
        if let previous, previous.size <= record.base {
            previousSegment = Segment(base: record.base - previous.size, size: previous.size)
        }
        return LogSegments(previous: previousSegment, current: currentSegment)
    }
}
