import CorralAgentProtocol
import Glibc

/// Guest-wide memory and CPU figures from procfs.
enum GuestMetricsReader {
    static func read(procRoot: String = "/proc") throws(AgentSystemError) -> GuestMetrics {
        let meminfo = try GuestFiles.read(path: procRoot + "/meminfo", limit: 1 << 20)
        let stat = try GuestFiles.read(path: procRoot + "/stat", limit: 4 << 20)
        var total: UInt64 = 0
        var available: UInt64 = 0
        for line in String(decoding: meminfo, as: UTF8.self).split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count >= 2, let value = UInt64(words[1]) else { continue }
            if words[0] == "MemTotal:" { total = value }
            if words[0] == "MemAvailable:" { available = value }
        }
        var ticks: [UInt64] = []
        for line in String(decoding: stat, as: UTF8.self).split(separator: "\n") where line.hasPrefix("cpu ") {
            ticks = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().compactMap { UInt64($0) }
            break
        }
        guard total > 0, ticks.count >= 4 else {
            throw AgentSystemError("read metrics", call: "parse", path: procRoot, errno: EINVAL)
        }
        func field(_ index: Int) -> UInt64 { index < ticks.count ? ticks[index] : 0 }
        // Fields: user nice system idle iowait irq softirq steal.
        return GuestMetrics(
            memoryTotalKiB: total, memoryAvailableKiB: available,
            cpuUserTicks: field(0) + field(1), cpuSystemTicks: field(2) + field(5) + field(6),
            cpuIdleTicks: field(3) + field(4), ticksPerSecond: UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1)))
    }
}
