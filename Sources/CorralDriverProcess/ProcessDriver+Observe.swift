import CorralCore
import CorralHost
import CorralShimFormat
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ProcessDriver {
    /// Reads the instance's log by absolute offsets: nil for the last `limit`
    /// bytes, a negative offset counts back from the end. An instance that never
    /// ran has an empty log.
    public func readLog(_ uuid: UUID, offset: Int64?, limit: Int) async throws(CorralError) -> LogChunk {
        try InstanceLog(directory: paths(uuid).directory).read(offset: offset, limit: limit)
    }

    /// Memory (resident anonymous) and CPU time of the instance's cgroup; without
    /// cgroups, of the workload process alone. The kernel flushes cgroup memory
    /// statistics lazily, so `rssBytes` may lag by up to about two seconds.
    public func usage(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) -> InstanceUsage {
        let cgroup = cgroup(uuid)
        if layout != .none {
            guard cgroup.exists else { throw .invalidState("failed to read metrics: instance is not running") }
            return InstanceUsage(
                rssBytes: cgroup.residentBytes(),
                cpuTimeMilliseconds: cgroup.cpuNanoseconds().map { $0 / 1_000_000 }
            )
        }
        guard let stat = ProcStat.read(pid: handle.workloadPID), stat.startTime == handle.workloadStartTime else {
            throw .invalidState("failed to read metrics: instance is not running")
        }
        let ticks = Int64(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Int64(sysconf(Int32(_SC_PAGESIZE)))
        return InstanceUsage(
            rssBytes: stat.residentPages * pageSize,
            cpuTimeMilliseconds: ticks > 0 ? Int64(stat.userTicks + stat.systemTicks) * 1000 / ticks : nil
        )
    }
}
