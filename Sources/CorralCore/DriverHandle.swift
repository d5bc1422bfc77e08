/// What a driver needs to find a running instance again: written when it starts,
/// persisted with the instance, handed back for stop, kill, adopt and destroy.
///
/// Every instance is supervised by a `corral-shim` process; a pid alone is never
/// trusted, so each pid travels with its start time (field 22 of `/proc/PID/stat`).
public struct DriverHandle: Codable, Sendable, Equatable {
    public var shimPID: Int32
    public var shimStartTime: UInt64
    public var workloadPID: Int32
    public var workloadStartTime: UInt64
    /// Driver-specific extras (socket paths, device names).
    public var attributes: [String: String]

    public init(
        shimPID: Int32,
        shimStartTime: UInt64,
        workloadPID: Int32,
        workloadStartTime: UInt64,
        attributes: [String: String] = [:]
    ) {
        self.shimPID = shimPID
        self.shimStartTime = shimStartTime
        self.workloadPID = workloadPID
        self.workloadStartTime = workloadStartTime
        self.attributes = attributes
    }
}
