import struct Foundation.Date

/// How a workload ended, as its supervisor saw it.
public struct ExitStatus: Codable, Sendable, Equatable {
    /// The exit code, when the workload called exit.
    public var code: Int32?
    /// The signal that terminated it, when one did.
    public var signal: Int32?
    /// Whether the memory limit's OOM killer ended it.
    public var oomKilled: Bool
    public var at: Date

    public init(code: Int32? = nil, signal: Int32? = nil, oomKilled: Bool = false, at: Date) {
        self.code = code
        self.signal = signal
        self.oomKilled = oomKilled
        self.at = at
    }

    /// Whether the workload failed: a non-zero code, or death by a signal.
    public var failed: Bool {
        if signal != nil { return true }
        return (code ?? 1) != 0
    }

    /// A one-line human account: `exited with code 3`, `killed by signal 9 (out of memory)`.
    public var summary: String {
        if oomKilled { return "killed by the kernel: out of memory" }
        if let signal { return "killed by signal \(signal)" }
        if let code { return "exited with code \(code)" }
        return "ended for an unknown reason"
    }
}

/// Unikraft Cloud's `stop_reason` bitmask: who initiated the stop and what exited.
public struct StopReason: OptionSet, Codable, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let kernel = StopReason(rawValue: 1 << 0)
    public static let app = StopReason(rawValue: 1 << 1)
    public static let platform = StopReason(rawValue: 1 << 2)
    public static let user = StopReason(rawValue: 1 << 3)
    public static let forced = StopReason(rawValue: 1 << 4)
}
