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
        if watches.withLock({ $0[uuid]?.shim }) == WatchedShim(handle) { return .running(handle) }
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
    ///
    /// `exitChannel` is the shim's ready pipe after its ready line, with what was
    /// read past that line: the shim writes its `ExitRecord` on it once the
    /// workload has ended and its cgroup is empty, before it makes the record
    /// durable and unmounts the rootfs in exiting. The exit is reported from that
    /// message at once; the pidfd still decides when the shim is gone (and reports
    /// the exit if the message never came). The channel is taken over in any case.
    func watch(
        _ uuid: UUID,
        handle: DriverHandle,
        pidfd: Int32,
        exitChannel: (descriptor: Int32, read: [UInt8])? = nil,
        watcher: DescriptorWatcher
    ) throws(CorralError) {
        let shim = WatchedShim(handle)
        watches.withLock { $0[uuid] = Watch(shim: shim) }
        do {
            try watcher.watch(pidfd) { [self] event, _ in
                if event == .readable { shimExited(uuid, handle: handle) }
                return .done
            }
        } catch {
            watches.withLock { watches in
                if watches[uuid]?.shim == shim { watches[uuid] = nil }
            }
            if let exitChannel { close(exitChannel.descriptor) }
            throw CorralError(.unavailable, "failed to watch corral-shim pid \(handle.shimPID)", cause: error)
        }
        if let exitChannel { readExitMessage(uuid, handle: handle, channel: exitChannel, watcher: watcher) }
    }

    /// Reads the shim's exit message to its end of file and reports the exit it
    /// states. Without a whole message (a shim that died, say) it does nothing.
    private func readExitMessage(
        _ uuid: UUID,
        handle: DriverHandle,
        channel: (descriptor: Int32, read: [UInt8]),
        watcher: DescriptorWatcher
    ) {
        let message = WatcherConfined(channel.read)
        do {
            try watcher.watch(channel.descriptor) { [self] event, fd in
                guard event == .readable else { return .done }
                var chunk = [UInt8](repeating: 0, count: 512)
                let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n < 0 { return errno == EINTR || errno == EAGAIN ? .keepWatching : .done }
                if n > 0 {
                    message.value.append(contentsOf: chunk[0..<n])
                    // An exit record is a few lines; anything longer is not one.
                    return message.value.count <= 4096 ? .keepWatching : .done
                }
                if let status = Self.exitStatus(message.value, handle: handle) {
                    reportExit(uuid, shim: WatchedShim(handle), status: status)
                }
                return .done
            }
        } catch {
            // The pidfd's watch reports the exit when the shim is gone.
            close(channel.descriptor)
        }
    }

    /// Runs on the watcher thread when a watched shim has exited. The watch entry
    /// stays until the shim is gone and its exit reported, so a cleanup can wait
    /// for both before it removes the exit record.
    private func shimExited(_ uuid: UUID, handle: DriverHandle) {
        HostProcess.reapIfChild(handle.shimPID)
        let shim = WatchedShim(handle)
        guard let watch = watches.withLock({ $0[uuid] }), watch.shim == shim else { return }
        defer {
            watches.withLock { watches in
                if watches[uuid]?.shim == shim { watches[uuid] = nil }
            }
        }
        if watch.exitReported { return }
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
        reportExit(uuid, shim: shim, status: status)
    }

    /// Reports the exit of `shim`'s run once, if it is still the watched one. On the
    /// watcher thread.
    private func reportExit(_ uuid: UUID, shim: WatchedShim, status: ExitStatus) {
        let first = watches.withLock { watches in
            guard watches[uuid]?.shim == shim, watches[uuid]?.exitReported == false else { return false }
            watches[uuid]?.exitReported = true
            return true
        }
        guard first else { return }
        notify(.exited(uuid, status))
        sink.instanceExited(uuid, status: status)
    }
}
