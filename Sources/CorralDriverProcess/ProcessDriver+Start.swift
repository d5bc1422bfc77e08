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
    /// Creates the instance's cgroups, launches its `corral-shim` and returns once
    /// the workload has exec'd; `bootTimeMicroseconds` runs from this call to the
    /// exec. A failed start removes what it created (cgroups, runtime files, and
    /// the instance directory if this start created it).
    ///
    /// Fails with `conflict` while a shim of this instance is still running, and
    /// with `invalidArgument` when the command cannot be found or executed.
    public func start(_ request: StartRequest) async throws(CorralError) -> StartedInstance {
        let requested = HostProcess.monotonicNanoseconds()
        let spec = request.spec
        try validateForStart(spec)
        let watcher = try runningWatcher("start")
        guard let executable = ExecutableLookup.resolve(spec.args[0], searchPath: Self.searchPath(spec)) else {
            throw .invalidArgument("failed to start instance: \(spec.args[0]): command not found")
        }
        guard FileSystem.isExecutableFile(shimPath) else {
            throw .unavailable("failed to start instance: corral-shim not found at \(shimPath)")
        }
        let uuid = request.uuid
        let paths = paths(uuid)
        if let shim = liveShim(uuid, paths: paths) {
            throw .conflict("failed to start instance: it is already running under corral-shim pid \(shim.pid)")
        }

        var undo = UndoStack()
        do throws(CorralError) {
            do {
                let directory = paths.directory
                if try FileSystem.makeDirectories(directory, mode: 0o750) {
                    undo.push { try? FileSystem.removeTree(directory) }
                }
                removeRuntimeFiles(paths)
                undo.push { [self] in removeRuntimeFiles(paths) }
            } catch {
                throw CorralError(.internal, "failed to start instance: cannot prepare \(paths.directory)", cause: error)
            }

            let cgroup = cgroup(uuid)
            if layout != .none {
                try cgroup.create(limits: CgroupLimits(
                    memoryBytes: Int64(spec.memoryMB) * 1024 * 1024,
                    cpus: spec.vcpus > 0 ? spec.vcpus : nil,
                    maxProcesses: maxProcesses
                ))
                undo.push { try? await cgroup.remove() }
                // A cgroup left by an earlier run whose supervisor died may still hold its processes.
                if !cgroup.isEmpty() { await cgroup.killAll(waitUntilEmpty: true) }
            }

            let parameters = ShimParameters(
                instanceDirectory: paths.directory,
                executable: executable,
                arguments: spec.args,
                environment: Self.environment(spec),
                workingDirectory: "/",
                cgroup2Directory: cgroup.unifiedDirectory,
                cgroupJoin: cgroup.joinFiles,
                cgroupMembers: cgroup.membersFile,
                freezerState: cgroup.freezerStateFile,
                cgroupKill: cgroup.killFile,
                oomCounter: cgroup.oomCounterFile,
                logBound: Int64(logBoundBytes)
            )
            do {
                try RawFile.writeAtomically(paths.parameters, parameters.encode(), durable: false, mode: 0o600)
            } catch {
                throw CorralError(.internal, "failed to start instance: cannot write \(paths.parameters)", cause: error)
            }

            let handle = try await launchShim(
                uuid: uuid, paths: paths, watcher: watcher, deadline: requested + Self.readyTimeoutNanoseconds
            )
            undo.commit()
            let boot = handle.execDone > requested ? Int64((handle.execDone - requested) / 1000) : 0
            logger.debug("started instance", metadata: [
                "uuid": "\(uuid)", "pid": "\(handle.handle.workloadPID)", "boot_time_us": "\(boot)",
            ])
            return StartedInstance(handle: handle.handle, bootTimeMicroseconds: boot)
        } catch {
            await undo.unwind()
            throw error
        }
    }

    private func validateForStart(_ spec: InstanceSpec) throws(CorralError) {
        guard !spec.args.isEmpty else {
            throw .invalidArgument("failed to start instance: the process driver needs a command, args must not be empty")
        }
        guard spec.args[0].hasPrefix("/") || !spec.args[0].contains("/") else {
            throw .invalidArgument(
                "failed to start instance: '\(spec.args[0])' must be an absolute path or a command name found on PATH"
            )
        }
    }

    /// Spawns the shim, waits for its ready line and, on success, watches it for the
    /// exit. On failure the shim has exited and been reaped.
    private func launchShim(
        uuid: UUID,
        paths: InstancePaths,
        watcher: DescriptorWatcher,
        deadline: UInt64
    ) async throws(CorralError) -> (handle: DriverHandle, execDone: UInt64) {
        let pipe: (read: Int32, write: Int32)
        let shimPID: Int32
        do {
            pipe = try DetachedSpawn.makePipe()
        } catch {
            throw CorralError(.internal, "failed to start instance: cannot create a pipe", cause: error)
        }
        do {
            shimPID = try DetachedSpawn.spawn(executable: shimPath, arguments: [paths.parameters], descriptor: pipe.write)
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
        switch line {
        case .line(let bytes): message = try? ReadyMessage.parse(bytes)
        default: message = nil
        }

        if case .started(let pid, let shimStart, let workload, let workloadStart, let execDone)? = message, pid == shimPID {
            let handle = DriverHandle(
                shimPID: shimPID, shimStartTime: shimStart, workloadPID: workload, workloadStartTime: workloadStart
            )
            guard pidfd >= 0 else {
                await abandon(shimPID: shimPID, pidfd: pidfd, watcher: watcher, uuid: uuid, workload: handle)
                throw .unavailable("failed to start instance: cannot watch corral-shim (pidfd_open unsupported)")
            }
            do {
                try watchShim(uuid: uuid, handle: handle, pidfd: pidfd, watcher: watcher)
            } catch {
                close(pidfd)
                await abandon(shimPID: shimPID, pidfd: -1, watcher: watcher, uuid: uuid, workload: handle)
                throw error
            }
            return (handle, execDone)
        }

        let failure: CorralError
        switch (line, message) {
        case (_, .failed(let stage, let errno, let text)?):
            failure = Self.startFailure(stage: stage, errno: errno, message: text)
        case (.timedOut, _):
            failure = .timeout("failed to start instance: the workload did not exec within \(Self.readyTimeoutNanoseconds / 1_000_000_000) s")
        case (.line(let bytes), _):
            failure = .internal("failed to start instance: corral-shim said '\(String(decoding: bytes, as: UTF8.self))'")
        case (.failed(let error), _):
            failure = CorralError(.internal, "failed to start instance: cannot read from corral-shim", cause: error)
        case (.stopped, _):
            failure = .unavailable("failed to start instance: the process driver is shutting down")
        case (.endOfFile, _):
            failure = .internal("failed to start instance: corral-shim exited without reporting")
        }
        let state = readStateRecord(paths).flatMap { $0.shimPID == shimPID ? WatchedShim($0).handle : nil }
        await abandon(shimPID: shimPID, pidfd: pidfd, watcher: watcher, uuid: uuid, workload: state)
        throw failure
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

    /// Maps the shim's report of a failed start to an error.
    static func startFailure(stage: String, errno: Int32, message: String) -> CorralError {
        switch stage {
        case "exec" where [ENOENT, EACCES, ENOEXEC, ENOTDIR, ELOOP, ETXTBSY, EISDIR].contains(errno):
            return .invalidArgument("failed to start instance: \(message)")
        case "cgroup":
            return .unavailable("failed to start instance: \(message)")
        default:
            return .internal("failed to start instance: \(stage): \(message)")
        }
    }
}
