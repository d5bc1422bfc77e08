/// Who supervises an instance and what it runs, written atomically by `corral-shim`
/// once the workload has exec'd: `<instance>/state`.
///
/// Pids travel with their start times (field 22 of `/proc/PID/stat`) so a reused pid
/// is never mistaken for the original process. Not fsynced: it describes live
/// processes and means nothing after a reboot.
public struct StateRecord: Equatable, Sendable {
    public var shimPID: Int32
    public var shimStartTime: UInt64
    public var workloadPID: Int32
    public var workloadStartTime: UInt64

    public init(shimPID: Int32, shimStartTime: UInt64, workloadPID: Int32, workloadStartTime: UInt64) {
        self.shimPID = shimPID
        self.shimStartTime = shimStartTime
        self.workloadPID = workloadPID
        self.workloadStartTime = workloadStartTime
    }

    static let magic = "corral-state"
    static let recordName = "state record"

    public func encode() -> [UInt8] {
        var text = KeyValueText()
        text.append("shim_pid", shimPID)
        text.append("shim_start", shimStartTime)
        text.append("pid", workloadPID)
        text.append("start", workloadStartTime)
        return text.encode(magic: Self.magic, version: 1)
    }

    public static func parse(_ bytes: [UInt8]) throws(ShimFormatError) -> StateRecord {
        let fields = try KeyValueText.parse(bytes, magic: magic, record: recordName)
        return StateRecord(
            shimPID: try fields.required("shim_pid", as: Int32.self, record: recordName),
            shimStartTime: try fields.required("shim_start", as: UInt64.self, record: recordName),
            workloadPID: try fields.required("pid", as: Int32.self, record: recordName),
            workloadStartTime: try fields.required("start", as: UInt64.self, record: recordName)
        )
    }
}
