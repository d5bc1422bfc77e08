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
    /// Re-attaches to an instance after a daemon restart. Pids are trusted only
    /// with their start times.
    ///
    /// - The shim is alive: it is watched again and its exit will be reported.
    /// - The shim is gone and left an exit record: that exit, not reported to the sink.
    /// - The shim is gone without a record: whatever is left in the instance's
    ///   cgroup is killed and the instance is `lost`.
    public func adopt(_ uuid: UUID, handle: DriverHandle) async -> AdoptionResult {
        let shim = WatchedShim(handle)
        if watches.withLock({ $0[uuid] }) == shim { return .running(handle) }
        let paths = paths(uuid)

        if let pidfd = HostProcess.openPidfd(pid: handle.shimPID, startTime: handle.shimStartTime) {
            do {
                try watchShim(uuid: uuid, handle: handle, pidfd: pidfd, watcher: runningWatcher("adopt"))
                logger.debug("adopted instance", metadata: ["uuid": "\(uuid)", "shim_pid": "\(handle.shimPID)"])
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

    /// Watches `pidfd` (which it takes over) and reports the shim's exit to the sink.
    func watchShim(uuid: UUID, handle: DriverHandle, pidfd: Int32, watcher: DescriptorWatcher) throws(CorralError) {
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
    /// stays until the exit is reported, so `cleanup` can wait for the report
    /// before it removes the exit record.
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
            logger.warning("corral-shim ended without an exit record; the instance was killed", metadata: [
                "uuid": "\(uuid)", "shim_pid": "\(handle.shimPID)",
            ])
            status = ExitStatus(code: nil, signal: SIGKILL, oomKilled: false, at: Date())
        }
        logger.debug("instance exited", metadata: ["uuid": "\(uuid)", "status": "\(status.summary)"])
        sink.instanceExited(uuid, status: status)
    }

    /// The exit recorded by the shim named in `handle`; nil when there is none or it
    /// belongs to another run.
    func recordedExit(_ paths: InstancePaths, handle: DriverHandle) -> ExitStatus? {
        guard let bytes = try? RawFile.read(paths.exit), let record = try? ExitRecord.parse(bytes),
              record.shimPID == handle.shimPID, record.shimStartTime == handle.shimStartTime
        else { return nil }
        let at = Date(timeIntervalSince1970: Double(record.timeNanoseconds) / 1_000_000_000)
        switch record.termination {
        case .exited(let code): return ExitStatus(code: code, signal: nil, oomKilled: record.oomKilled, at: at)
        case .signaled(let signal): return ExitStatus(code: nil, signal: signal, oomKilled: record.oomKilled, at: at)
        }
    }

    /// The instance's shim if one is alive: the one this driver watches, else the
    /// one its state record names.
    func liveShim(_ uuid: UUID, paths: InstancePaths) -> WatchedShim? {
        if let watched = watches.withLock({ $0[uuid] }), HostProcess.isAlive(pid: watched.pid, startTime: watched.startTime) {
            return watched
        }
        if let state = readStateRecord(paths), HostProcess.isAlive(pid: state.shimPID, startTime: state.shimStartTime) {
            return WatchedShim(state)
        }
        return nil
    }

    func readStateRecord(_ paths: InstancePaths) -> StateRecord? {
        guard let bytes = try? RawFile.read(paths.state) else { return nil }
        return try? StateRecord.parse(bytes)
    }

    /// SIGKILLs everything of the instance: its cgroup and the workload's group.
    func killRemains(_ uuid: UUID, handle: DriverHandle?) async {
        await cgroup(uuid).killAll(waitUntilEmpty: false)
        if let handle {
            HostProcess.signalGroup(leader: handle.workloadPID, startTime: handle.workloadStartTime, SIGKILL)
        }
    }
}
