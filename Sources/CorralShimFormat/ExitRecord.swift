/// How a workload ended, written once by `corral-shim` after it has reaped the
/// workload and killed what remained of the instance: `<instance>/exit`.
///
/// Written atomically and durably; its presence means the exit is final. It names
/// the shim that wrote it, so a record left by an earlier run is never mistaken for
/// the current one.
public struct ExitRecord: Equatable, Sendable {
    public enum Termination: Equatable, Sendable {
        case exited(code: Int32)
        case signaled(signal: Int32)
    }

    public var shimPID: Int32
    public var shimStartTime: UInt64
    public var workloadPID: Int32
    public var termination: Termination
    /// The instance's OOM-kill counter grew while the workload ran.
    public var oomKilled: Bool
    /// Wall-clock time of the exit, nanoseconds since the Unix epoch.
    public var timeNanoseconds: Int64

    public init(
        shimPID: Int32,
        shimStartTime: UInt64,
        workloadPID: Int32,
        termination: Termination,
        oomKilled: Bool,
        timeNanoseconds: Int64
    ) {
        self.shimPID = shimPID
        self.shimStartTime = shimStartTime
        self.workloadPID = workloadPID
        self.termination = termination
        self.oomKilled = oomKilled
        self.timeNanoseconds = timeNanoseconds
    }

    static let magic = "corral-exit"
    static let recordName = "exit record"

    public func encode() -> [UInt8] {
        var text = KeyValueText()
        text.append("shim_pid", shimPID)
        text.append("shim_start", shimStartTime)
        text.append("pid", workloadPID)
        switch termination {
        case .exited(let code): text.append("code", code)
        case .signaled(let signal): text.append("signal", signal)
        }
        text.append("oom", oomKilled ? 1 : 0)
        text.append("time_ns", timeNanoseconds)
        return text.encode(magic: Self.magic, version: 1)
    }

    public static func parse(_ bytes: [UInt8]) throws(ShimFormatError) -> ExitRecord {
        let fields = try KeyValueText.parse(bytes, magic: magic, record: recordName)
        let code = try fields.optional("code", as: Int32.self, record: recordName)
        let signal = try fields.optional("signal", as: Int32.self, record: recordName)
        let termination: Termination
        switch (code, signal) {
        case (let code?, nil): termination = .exited(code: code)
        case (nil, let signal?): termination = .signaled(signal: signal)
        default: throw ShimFormatError(record: recordName, reason: "needs exactly one of 'code' and 'signal'")
        }
        let oom = try fields.required("oom", as: Int.self, record: recordName)
        guard oom == 0 || oom == 1 else { throw ShimFormatError(record: recordName, reason: "'oom' must be 0 or 1") }
        return ExitRecord(
            shimPID: try fields.required("shim_pid", as: Int32.self, record: recordName),
            shimStartTime: try fields.required("shim_start", as: UInt64.self, record: recordName),
            workloadPID: try fields.required("pid", as: Int32.self, record: recordName),
            termination: termination,
            oomKilled: oom == 1,
            timeNanoseconds: try fields.required("time_ns", as: Int64.self, record: recordName)
        )
    }
}
