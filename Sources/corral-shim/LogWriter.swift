#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CorralShimFormat

/// Appends workload output to `<instance>/log`, keeping `log` plus `log.1` within
/// the bound: when `log` holds half the bound it becomes `log.1` (replacing the
/// older one) and a new `log` starts, its absolute base recorded in `log.offset`.
struct LogWriter {
    private let logPath: String
    private let previousPath: String
    private let offsetPath: String
    private let segmentLimit: Int64
    private var fd: Int32
    private var base: Int64
    private var size: Int64

    init(parameters: ShimParameters) throws(SystemCallError) {
        logPath = parameters.path(InstanceFileNames.log)
        previousPath = parameters.path(InstanceFileNames.previousLog)
        offsetPath = parameters.path(InstanceFileNames.logOffset)
        segmentLimit = max(parameters.logBound / 2, 1)

        let record = (try? RawFile.read(offsetPath)).flatMap { $0 }.flatMap { try? LogOffsetRecord.parse($0) }
        fd = open(logPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        if fd < 0 { throw .last("open", path: logPath) }
        guard let current = RawFile.identity(fd: fd) else { throw .last("fstat", path: logPath) }
        let segments = LogSegments.resolve(record: record, current: current, previous: RawFile.identity(previousPath))
        base = segments.current.base
        size = current.size
        let settled = LogOffsetRecord(base: base, inode: current.inode)
        if record != settled { try RawFile.writeAtomically(offsetPath, settled.encode(), durable: false) }
    }

    /// Appends `bytes`, rotating as often as needed. Bytes the file system refuses
    /// (a full disk) are dropped: losing output must never stop the supervisor.
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            if size >= segmentLimit { rotate() }
            let part = min(bytes.count - offset, Int(segmentLimit - size))
            var written = 0
            while written < part {
                let n = write(fd, bytes.baseAddress.map { $0 + offset + written }, part - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    break
                }
                written += n
            }
            size += Int64(part)
            offset += part
        }
    }

    private mutating func rotate() {
        let nextBase = base + size
        if rename(logPath, previousPath) != 0 {
            // Without a rename the only way to stay within the bound is to start over in place.
            _ = ftruncate(fd, 0)
            base = nextBase
            size = 0
            writeRecord()
            return
        }
        close(fd)
        fd = open(logPath, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        base = nextBase
        size = 0
        if fd < 0 {
            fd = open("/dev/null", O_WRONLY | O_CLOEXEC)
            return
        }
        writeRecord()
    }

    private func writeRecord() {
        guard let identity = RawFile.identity(fd: fd) else { return }
        try? RawFile.writeAtomically(offsetPath, LogOffsetRecord(base: base, inode: identity.inode).encode(), durable: false)
    }
}
