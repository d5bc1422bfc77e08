/// The first line `corral-shim` writes on its ready descriptor (fd 3): either the
/// workload has exec'd, or why it could not start. After `started`, the same
/// descriptor carries the run's `ExitRecord` once the workload has ended.
public enum ReadyMessage: Equatable, Sendable {
    /// The workload exec'd. `execDoneMonotonicNanoseconds` is `CLOCK_MONOTONIC` when
    /// the shim saw the exec succeed, comparable with the driver's own clock.
    case started(
        shimPID: Int32,
        shimStartTime: UInt64,
        workloadPID: Int32,
        workloadStartTime: UInt64,
        execDoneMonotonicNanoseconds: UInt64
    )
    /// The workload did not start. `errno` is 0 when the failure had none.
    case failed(stage: String, errno: Int32, message: String)

    static let recordName = "ready message"

    /// The line, newline-terminated. Message text has its newlines replaced by spaces.
    public func encode() -> [UInt8] {
        switch self {
        case .started(let shimPID, let shimStart, let pid, let start, let execDone):
            return Array("started \(shimPID) \(shimStart) \(pid) \(start) \(execDone)\n".utf8)
        case .failed(let stage, let errno, let message):
            let flat = String(message.map { $0 == "\n" ? " " : $0 })
            return Array("failed \(stage) \(errno) \(flat)\n".utf8)
        }
    }

    /// Parses one line, with or without its trailing newline.
    public static func parse(_ bytes: [UInt8]) throws(ShimFormatError) -> ReadyMessage {
        var text = String(decoding: bytes, as: UTF8.self)
        if text.hasSuffix("\n") { text.removeLast() }
        let words = text.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard let kind = words.first else { throw ShimFormatError(record: recordName, reason: "empty") }
        switch kind {
        case "started":
            let numbers = text.split(separator: " ").dropFirst()
            guard numbers.count == 5,
                  let shimPID = Int32(numbers[numbers.startIndex]),
                  let shimStart = UInt64(numbers[numbers.startIndex + 1]),
                  let pid = Int32(numbers[numbers.startIndex + 2]),
                  let start = UInt64(numbers[numbers.startIndex + 3]),
                  let execDone = UInt64(numbers[numbers.startIndex + 4])
            else { throw ShimFormatError(record: recordName, reason: "bad started line '\(text)'") }
            return .started(
                shimPID: shimPID, shimStartTime: shimStart, workloadPID: pid, workloadStartTime: start,
                execDoneMonotonicNanoseconds: execDone
            )
        case "failed":
            guard words.count >= 3, let errno = Int32(words[2]) else {
                throw ShimFormatError(record: recordName, reason: "bad failed line '\(text)'")
            }
            return .failed(stage: String(words[1]), errno: errno, message: words.count > 3 ? String(words[3]) : "")
        default:
            throw ShimFormatError(record: recordName, reason: "unknown line '\(text)'")
        }
    }
}
