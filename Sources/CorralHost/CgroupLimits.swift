/// Resource limits for one instance cgroup. A nil limit leaves the kernel default.
public struct CgroupLimits: Sendable, Equatable {
    public var memoryBytes: Int64?
    /// CPU bandwidth in whole CPUs: the CFS quota is this many periods per period.
    public var cpus: Int?
    public var maxProcesses: Int?

    public init(memoryBytes: Int64?, cpus: Int?, maxProcesses: Int?) {
        self.memoryBytes = memoryBytes
        self.cpus = cpus
        self.maxProcesses = maxProcesses
    }
}
