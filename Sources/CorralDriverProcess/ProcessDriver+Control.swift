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

    /// Freezes every process of the instance (cgroup freezer); returns once the
    /// kernel reports the cgroup frozen.
    public func freeze(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        try await cgroup(uuid).suspend(handle: handle, freezerAvailable: capabilities.contains(.freeze), driver: name)
    }

    /// Thaws a frozen instance. Thawing one that is not frozen is a no-op.
    public func thaw(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        try cgroup(uuid).resume(freezerAvailable: capabilities.contains(.freeze), driver: name)
    }
}
