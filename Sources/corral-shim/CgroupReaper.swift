#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CorralShimFormat

/// Kills whatever is left of an instance once its workload has ended.
struct CgroupReaper {
    let procs: String?
    let freezerState: String?
    let cgroupKill: String?

    init(parameters: ShimParameters) {
        procs = parameters.cgroupMembers
        freezerState = parameters.freezerState
        cgroupKill = parameters.cgroupKill
    }

    /// SIGKILLs every process in the instance cgroup until none is left or a
    /// second has passed. `reap` is called between rounds so zombies of processes
    /// reparented to the shim do not count as survivors.
    func killAll(reap: () -> Void) {
        guard let procs else { return }
        if let cgroupKill, (try? write(cgroupKill, "1")) != nil {
            waitEmpty(procs, reap: reap)
            return
        }
        for _ in 0..<100 {
            let frozen = freeze()
            let pids = members(procs)
            for pid in pids { kill(pid, SIGKILL) }
            if frozen { thaw() }
            reap()
            if pids.isEmpty || onlyZombies(procs) { return }
            usleep(10_000)
        }
    }

    private func waitEmpty(_ procs: String, reap: () -> Void) {
        for _ in 0..<100 {
            reap()
            if members(procs).isEmpty || onlyZombies(procs) { return }
            usleep(10_000)
        }
    }

    private func freeze() -> Bool {
        guard let freezerState, (try? write(freezerState, "FROZEN")) != nil else { return false }
        for _ in 0..<200 {
            if let state = try? RawFile.read(freezerState), String(decoding: state, as: UTF8.self).hasPrefix("FROZEN") {
                return true
            }
            usleep(500)
        }
        return true
    }

    private func thaw() {
        guard let freezerState else { return }
        _ = try? write(freezerState, "THAWED")
    }

    private func members(_ path: String) -> [Int32] {
        guard let bytes = try? RawFile.read(path) else { return [] }
        return bytes.split(separator: UInt8(ascii: "\n")).compactMap { Int32(String(decoding: $0, as: UTF8.self)) }
    }

    private func onlyZombies(_ path: String) -> Bool {
        members(path).allSatisfy { ProcStat.read(pid: $0)?.hasExited ?? true }
    }

    private func write(_ path: String, _ text: String) throws(SystemCallError) {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd < 0 { throw .last("open", path: path) }
        defer { close(fd) }
        try RawFile.writeAll(fd: fd, Array(text.utf8), path: path)
    }
}
