import CorralCore
import CorralShimFormat
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ShimSupervisor {
    /// Writes `parameters` to the instance's `shim.params`, spawns the shim, waits
    /// until `deadline` (`CLOCK_MONOTONIC` nanoseconds) for its ready line and, on
    /// success, watches it for the exit.
    ///
    /// On failure the shim has exited and been reaped and whatever it started has
    /// been killed; the shim's own report is turned into an error by `failure`.
    /// The caller still owns the instance directory and cgroups.
    ///
    /// `passing` are given to the shim as descriptors 4 onwards (for
    /// `parameters.passDescriptors`); the caller keeps and closes its own.
    public func launch(
        _ uuid: UUID,
        parameters: ShimParameters,
        passing: [Int32] = [],
        deadline: UInt64,
        failure: (StartFailure) -> CorralError
    ) async throws(CorralError) -> Launched {
        let watcher = try watcher("start")
        let paths = paths(uuid)
        let now = HostProcess.monotonicNanoseconds()
        let allowedSeconds = deadline > now ? (deadline - now + 500_000_000) / 1_000_000_000 : 0
        guard FileSystem.isExecutableFile(shimPath) else {
            throw .unavailable("failed to start instance: corral-shim not found at \(shimPath)")
        }
        do {
            try RawFile.writeAtomically(paths.parameters, parameters.encode(), durable: false, mode: 0o600)
        } catch {
            throw CorralError(.internal, "failed to start instance: cannot write \(paths.parameters)", cause: error)
        }

        let pipe: (read: Int32, write: Int32)
        let shimPID: Int32
        do {
            pipe = try DetachedSpawn.makePipe()
        } catch {
            throw CorralError(.internal, "failed to start instance: cannot create a pipe", cause: error)
        }
        do {
            shimPID = try DetachedSpawn.spawn(
                executable: shimPath, arguments: [paths.parameters], descriptor: pipe.write, passing: passing
            )
        } catch {
            close(pipe.read)
            close(pipe.write)
            throw CorralError(.unavailable, "failed to start instance: cannot run corral-shim", cause: error)
        }
        close(pipe.write)
        // The shim is our unreaped child, so its pid cannot be reused before this.
        let pidfd = HostProcess.openPidfd(childPID: shimPID) ?? -1

        let line = await watcher.readLine(from: pipe.read, deadline: deadline)
        let message: ReadyMessage?
        var exitChannel: (descriptor: Int32, read: [UInt8])?
        switch line {
        case .line(let bytes, let rest):
            message = try? ReadyMessage.parse(bytes)
            exitChannel = (pipe.read, rest)
        default:
            message = nil
        }

        if case .started(let pid, let shimStart, let workload, let workloadStart, let started)? = message, pid == shimPID {
            let handle = DriverHandle(
                shimPID: shimPID, shimStartTime: shimStart, workloadPID: workload, workloadStartTime: workloadStart
            )
            guard pidfd >= 0 else {
                close(pipe.read)
                await abandon(shimPID: shimPID, pidfd: pidfd, watcher: watcher, uuid: uuid, workload: handle)
                throw .unavailable("failed to start instance: cannot watch corral-shim (pidfd_open unsupported)")
            }
            do {
                try watch(uuid, handle: handle, pidfd: pidfd, exitChannel: exitChannel, watcher: watcher)
            } catch {
                close(pidfd)
                await abandon(shimPID: shimPID, pidfd: -1, watcher: watcher, uuid: uuid, workload: handle)
                throw error
            }
            return Launched(handle: handle, startedAtMonotonicNanoseconds: started)
        }

        let error: CorralError
        switch (line, message) {
        case (_, .failed(let stage, let errno, let text)?):
            error = failure(StartFailure(stage: stage, errno: errno, message: text))
        case (.timedOut, _):
            error = .timeout("failed to start instance: the workload did not start within \(allowedSeconds) s")
        case (.line(let bytes, _), _):
            error = .internal("failed to start instance: corral-shim said '\(String(decoding: bytes, as: UTF8.self))'")
        case (.failed(let cause), _):
            error = CorralError(.internal, "failed to start instance: cannot read from corral-shim", cause: cause)
        case (.stopped, _):
            error = .unavailable("failed to start instance: the \(driverName) driver is shutting down")
        case (.endOfFile, _):
            error = .internal("failed to start instance: corral-shim exited without reporting")
        }
        if exitChannel != nil { close(pipe.read) }
        let state = readStateRecord(paths).flatMap { $0.shimPID == shimPID ? WatchedShim($0).handle : nil }
        await abandon(shimPID: shimPID, pidfd: pidfd, watcher: watcher, uuid: uuid, workload: state)
        throw error
    }

    /// Ends a shim whose start failed: kills it and its workload if still running,
    /// waits for it and reaps it. Takes ownership of `pidfd` (-1: none).
    private func abandon(
        shimPID: Int32,
        pidfd: Int32,
        watcher: DescriptorWatcher,
        uuid: UUID,
        workload: DriverHandle?
    ) async {
        await killRemains(uuid, handle: workload)
        let descriptor = pidfd >= 0 ? pidfd : HostProcess.openPidfd(childPID: shimPID)
        var event = DescriptorWatcher.Event.timedOut
        if let descriptor {
            event = await watcher.waitReadable(descriptor, deadline: HostProcess.monotonicNanoseconds() + 2_000_000_000)
        }
        if event != .readable {
            Glibc.kill(shimPID, SIGKILL)
            if let again = HostProcess.openPidfd(childPID: shimPID) {
                _ = await watcher.waitReadable(again, deadline: HostProcess.monotonicNanoseconds() + 5_000_000_000)
            }
        }
        HostProcess.reapIfChild(shimPID)
    }
}
