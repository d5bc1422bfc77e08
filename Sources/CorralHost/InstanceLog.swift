import CorralCore
import CorralShimFormat

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads the bounded log `corral-shim` keeps in an instance directory (`log`,
/// `log.1`, `log.offset`), by absolute byte offsets since the instance was created.
public struct InstanceLog: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// Reads up to `limit` bytes.
    ///
    /// - `offset` nil: the last `limit` bytes (a tail).
    /// - `offset` ≥ 0: from that absolute offset; an offset already rotated away
    ///   starts at the first retained byte, one past the end yields no bytes.
    /// - `offset` < 0: that many bytes before the end.
    ///
    /// A directory without a log reads as empty, at offset 0.
    public func read(offset: Int64?, limit: Int) throws(CorralError) -> LogChunk {
        guard limit >= 0 else { throw .invalidArgument("invalid limit \(limit): must not be negative") }
        let snapshot = try openSnapshot()
        defer {
            if snapshot.current >= 0 { close(snapshot.current) }
            if snapshot.previous >= 0 { close(snapshot.previous) }
        }
        let segments = snapshot.segments
        let start = segments.availableStart, end = segments.availableEnd
        let span = min(Int64(limit), end - start)
        var from: Int64
        switch offset {
        case nil: from = end - span
        case let offset? where offset < 0: from = end + offset
        case let offset?: from = offset
        }
        from = min(max(from, start), end)
        let to = from + min(span, end - from)

        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(to - from))
        if let previous = segments.previous, from < previous.end {
            try append(&bytes, fd: snapshot.previous, segment: previous, from: from, to: min(to, previous.end))
        }
        if to > segments.current.base {
            try append(&bytes, fd: snapshot.current, segment: segments.current, from: max(from, segments.current.base), to: to)
        }
        return LogChunk(bytes: bytes, availableStart: start, availableEnd: end, rangeStart: from)
    }

    /// Where the segments currently sit on the absolute offset axis.
    public func segments() throws(CorralError) -> LogSegments {
        let snapshot = try openSnapshot()
        if snapshot.current >= 0 { close(snapshot.current) }
        if snapshot.previous >= 0 { close(snapshot.previous) }
        return snapshot.segments
    }

    private struct Snapshot {
        var current: Int32
        var previous: Int32
        var segments: LogSegments
    }

    /// Opens both segments and places them, retrying while a rotation is under way
    /// so the record and the open files describe the same moment.
    private func openSnapshot() throws(CorralError) -> Snapshot {
        let logPath = "\(directory)/\(InstanceFileNames.log)"
        let previousPath = "\(directory)/\(InstanceFileNames.previousLog)"
        var attempt = 0
        while true {
            attempt += 1
            let before = readRecord()
            let current = open(logPath, O_RDONLY | O_CLOEXEC)
            let previous = open(previousPath, O_RDONLY | O_CLOEXEC)
            let currentIdentity = current >= 0 ? RawFile.identity(fd: current) : nil
            let previousIdentity = previous >= 0 ? RawFile.identity(fd: previous) : nil
            let after = readRecord()
            let stable = before == after
                && RawFile.identity(logPath)?.inode == currentIdentity?.inode
                && RawFile.identity(previousPath)?.inode == previousIdentity?.inode
            if stable || attempt >= 5 {
                let segments = LogSegments.resolve(record: after, current: currentIdentity, previous: previousIdentity)
                return Snapshot(current: current, previous: previous, segments: segments)
            }
            if current >= 0 { close(current) }
            if previous >= 0 { close(previous) }
        }
    }

    private func readRecord() -> LogOffsetRecord? {
        guard let bytes = try? RawFile.read("\(directory)/\(InstanceFileNames.logOffset)") else { return nil }
        return try? LogOffsetRecord.parse(bytes)
    }

    private func append(
        _ bytes: inout [UInt8],
        fd: Int32,
        segment: LogSegments.Segment,
        from: Int64,
        to: Int64
    ) throws(CorralError) {
        guard fd >= 0, to > from else { return }
        var position = from - segment.base
        let stop = to - segment.base
        var chunk = [UInt8](repeating: 0, count: 65536)
        while position < stop {
            let want = Int(min(Int64(chunk.count), stop - position))
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(position)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CorralError(.internal, "failed to read log of \(directory)", cause: SystemCallError.last("pread"))
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            position += Int64(n)
        }
    }
}
