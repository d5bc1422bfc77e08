import CorralCore
import CorralHost
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ContainerDriver {
    /// Asks the container to stop and returns: SIGTERM to its init. A frozen
    /// container is thawed so it can act on the signal; one already gone is not an
    /// error.
    ///
    /// The init is pid 1 of its pid namespace, to which the kernel delivers only the
    /// signals it has a handler for: a SIGTERM it neither handles, ignores nor
    /// blocks would be dropped, where for any other process its default action
    /// would end it at once. Such an init is ended with SIGKILL, the same outcome
    /// without the signal number (its exit reads `killed by signal 9`). An init
    /// that ignores SIGTERM keeps running until `kill`.
    public func terminate(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        let pid = handle.workloadPID, start = handle.workloadStartTime
        let signal = HostProcess.signalDisposition(pid: pid, startTime: start, SIGTERM) == .default ? SIGKILL : SIGTERM
        HostProcess.signal(pid: pid, startTime: start, signal)
        let cgroup = cgroup(uuid)
        if cgroup.canFreeze, cgroup.isFrozen() { try cgroup.thaw() }
    }

    /// SIGKILLs every process of the container and returns once the signals are
    /// sent; the shim reports the exit.
    public func kill(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        await supervisor.killRemains(uuid, handle: handle)
    }

    /// Freezes every process of the container (cgroup freezer); returns once the
    /// kernel reports the cgroup frozen.
    public func freeze(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        try await cgroup(uuid).suspend(handle: handle, freezerAvailable: capabilities.contains(.freeze), driver: name)
    }

    /// Thaws a frozen container. Thawing one that is not frozen is a no-op.
    public func thaw(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        try cgroup(uuid).resume(freezerAvailable: capabilities.contains(.freeze), driver: name)
    }

    /// Memory (resident anonymous) and CPU time of the container's cgroup. The
    /// kernel flushes cgroup memory statistics lazily, so `rssBytes` may lag.
    public func usage(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) -> InstanceUsage {
        let cgroup = cgroup(uuid)
        guard cgroup.exists, HostProcess.isAlive(pid: handle.workloadPID, startTime: handle.workloadStartTime) else {
            throw .invalidState("failed to read metrics: instance is not running")
        }
        return cgroup.usage()
    }

    /// Reads the instance's log by absolute offsets: nil for the last `limit`
    /// bytes, a negative offset counts back from the end.
    public func readLog(_ uuid: UUID, offset: Int64?, limit: Int) async throws(CorralError) -> LogChunk {
        try InstanceLog(directory: paths(uuid).directory).read(offset: offset, limit: limit)
    }

    /// Re-attaches to a container after a daemon restart; the container kept running
    /// under its shim. See `ShimSupervisor.adopt`.
    public func adopt(_ uuid: UUID, handle: DriverHandle) async -> AdoptionResult {
        await supervisor.adopt(uuid, handle: handle)
    }

    /// Removes every host resource of a stopped container except its log and its
    /// writable layer: a shim still running is ended first, then the runtime's
    /// container (`delete --force`), the cgroups in every hierarchy, the network
    /// attachment and the run's files. Nothing of the instance was ever mounted on
    /// the host. Idempotent.
    public func cleanup(_ uuid: UUID) async throws(CorralError) {
        // An instance deleted before it started: the standby it claimed goes too.
        if let standby = standbys.takeClaimed(uuid) { close(standby.channel) }
        await supervisor.endLiveShim(uuid)
        try await deleteContainer(uuid, verb: "clean up instance")
        try await supervisor.removeCgroups(uuid)
        await networking?.detach(uuid)
        removeRuntimeFiles(paths(uuid))
    }

    /// `cleanup`, then the instance directory with its log and writable layer.
    /// Idempotent.
    public func destroy(_ uuid: UUID) async throws(CorralError) {
        try await cleanup(uuid)
        try supervisor.removeInstanceDirectory(uuid)
    }
}
