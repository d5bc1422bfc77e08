import CorralCore
import CorralHost
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ProcessDriver {
    /// Sends SIGTERM to the workload's process group and returns. A frozen instance
    /// is thawed so it can act on the signal. A workload that is already gone is
    /// not an error.
    public func terminate(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        HostProcess.signalGroup(leader: handle.workloadPID, startTime: handle.workloadStartTime, SIGTERM)
        let cgroup = cgroup(uuid)
        if cgroup.canFreeze, cgroup.isFrozen() { try cgroup.thaw() }
    }

    /// SIGKILLs every process of the instance and returns once the signals are
    /// sent; the shim reports the exit.
    public func kill(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        await supervisor.killRemains(uuid, handle: handle)
    }

    /// Freezes every process of the instance; returns once the kernel reports the
    /// cgroup frozen.
    public func freeze(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        let cgroup = try freezableCgroup(uuid, verb: "suspend")
        guard HostProcess.isAlive(pid: handle.shimPID, startTime: handle.shimStartTime) else {
            throw .invalidState("failed to suspend instance: it is not running")
        }
        try await cgroup.freeze()
    }

    /// Thaws a frozen instance. Thawing one that is not frozen is a no-op.
    public func thaw(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        let cgroup = try freezableCgroup(uuid, verb: "resume")
        try cgroup.thaw()
        if cgroup.isFrozen() { throw .internal("failed to resume instance: the cgroup still reads frozen") }
    }

    private func freezableCgroup(_ uuid: UUID, verb: String) throws(CorralError) -> InstanceCgroup {
        guard capabilities.contains(.freeze) else {
            throw .unsupported("failed to \(verb) instance: the process driver has no cgroup freezer on this host")
        }
        let cgroup = cgroup(uuid)
        guard cgroup.exists else { throw .invalidState("failed to \(verb) instance: it is not running") }
        return cgroup
    }
}
