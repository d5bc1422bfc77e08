import CorralCore
import CorralShimFormat
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ShimSupervisor {
    /// Re-attaches to an instance after a daemon restart.
    ///
    /// - The shim is alive: it is watched again and its exit will be reported.
    /// - The shim is gone and left an exit record: that exit, not reported to the sink.
    /// - The shim is gone without a record: whatever is left in the instance's
    ///   cgroup is killed and the instance is `lost`.
    public func adopt(_ uuid: UUID, handle: DriverHandle) async -> AdoptionResult {
        if watches.withLock({ $0[uuid] }) == WatchedShim(handle) { return .running(handle) }
        let paths = paths(uuid)

        if let pidfd = HostProcess.openPidfd(pid: handle.shimPID, startTime: handle.shimStartTime) {
            do {
                try watch(uuid, handle: handle, pidfd: pidfd, watcher: watcher("adopt"))
                notify(.adopted(uuid, shimPID: handle.shimPID))
                return .running(handle)
            } catch {
                close(pidfd)
                await killRemains(uuid, handle: handle)
                return .lost(reason: "\(error.message); what remained was killed")
            }
        }

        HostProcess.reapIfChild(handle.shimPID)
        if let status = recordedExit(paths, handle: handle) { return .exited(status) }
        await killRemains(uuid, handle: handle)
        return .lost(
            reason: "its supervisor (corral-shim pid \(handle.shimPID)) is gone and left no exit record; what remained was killed"
        )
    }

    /// Watches `pidfd` (which it takes over on success) and reports the shim's exit
    /// to the sink.
    func watch(_ uuid: UUID, handle: DriverHandle, pidfd: Int32, watcher: DescriptorWatcher) throws(CorralError) {
        let shim = WatchedShim(handle)
        watches.withLock { $0[uuid] = shim }
        do {
            try watcher.watch(pidfd) { [self] event, _ in
                if event == .readable { shimExited(uuid, handle: handle) }
                return .done
            }
        } catch {
            watches.withLock { watches in
                if watches[uuid] == shim { watches[uuid] = nil }
            }
            throw CorralError(.unavailable, "failed to watch corral-shim pid \(handle.shimPID)", cause: error)
        }
    }

    /// Runs on the watcher thread when a watched shim has exited. The watch entry
    /// stays until the exit is reported, so a cleanup can wait for the report before
    /// it removes the exit record.
    private func shimExited(_ uuid: UUID, handle: DriverHandle) {
        HostProcess.reapIfChild(handle.shimPID)
        let shim = WatchedShim(handle)
        guard watches.withLock({ $0[uuid] }) == shim else { return }
        defer {
            watches.withLock { watches in
                if watches[uuid] == shim { watches[uuid] = nil }
            }
        }
        let status: ExitStatus
        if let recorded = recordedExit(paths(uuid), handle: handle) {
            status = recorded
        } else {
            // Without a supervisor nothing may keep running unobserved.
            cgroup(uuid).killAllOnce()
            HostProcess.signalGroup(leader: handle.workloadPID, startTime: handle.workloadStartTime, SIGKILL)
            notify(.supervisorLost(uuid, shimPID: handle.shimPID))
            status = ExitStatus(code: nil, signal: SIGKILL, oomKilled: false, at: Date())
        }
        notify(.exited(uuid, status))
        sink.instanceExited(uuid, status: status)
    }
}
