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
        _ = try supervisor.watcher("start")
        guard let executable = ExecutableLookup.resolve(spec.args[0], searchPath: Self.searchPath(spec)) else {
            throw .invalidArgument("failed to start instance: \(spec.args[0]): command not found")
        }
        guard FileSystem.isExecutableFile(shimPath) else {
            throw .unavailable("failed to start instance: corral-shim not found at \(shimPath)")
        }
        let uuid = request.uuid
        let paths = paths(uuid)
        try await supervisor.refuseWhileRunning(uuid)

        var undo = UndoStack()
        do throws(CorralError) {
            do {
                let directory = paths.directory
                if try FileSystem.makeDirectories(directory, mode: 0o750) {
                    undo.push { try? FileSystem.removeTree(directory) }
                }
                supervisor.removeRuntimeFiles(paths)
                undo.push { [supervisor] in supervisor.removeRuntimeFiles(paths) }
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
            let launched = try await supervisor.launch(
                uuid, parameters: parameters, deadline: requested + Self.readyTimeoutNanoseconds,
                failure: Self.startFailure
            )
            undo.commit()
            let execDone = launched.startedAtMonotonicNanoseconds
            let boot = execDone > requested ? Int64((execDone - requested) / 1000) : 0
            logger.debug("started instance", metadata: [
                "uuid": "\(uuid)", "pid": "\(launched.handle.workloadPID)", "boot_time_us": "\(boot)",
            ])
            return StartedInstance(handle: launched.handle, bootTimeMicroseconds: boot)
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

    /// Maps the shim's report of a failed start to an error.
    static func startFailure(_ failure: ShimSupervisor.StartFailure) -> CorralError {
        switch failure.stage {
        case "exec" where [ENOENT, EACCES, ENOEXEC, ENOTDIR, ELOOP, ETXTBSY, EISDIR].contains(failure.errno):
            return .invalidArgument("failed to start instance: \(failure.message)")
        case "cgroup":
            return .unavailable("failed to start instance: \(failure.message)")
        default:
            return .internal("failed to start instance: \(failure.stage): \(failure.message)")
        }
    }
}
