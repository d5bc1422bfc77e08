import CorralCore
import CorralHost
import CorralShimFormat
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ContainerDriver {
    /// Prepares the bundle, cgroups and network of the instance, launches its shim
    /// and returns once crun has started the container's init;
    /// `bootTimeMicroseconds` runs from this call to that moment. A failed start
    /// removes what it created (cgroups, crun state, network attachment, runtime
    /// files, and the instance directory if this start created it).
    ///
    /// Fails with `conflict` while a shim of this instance still runs, with
    /// `invalidArgument` when the image's user or the command cannot be found, and
    /// with `unavailable` when the host lacks what containers need.
    public func start(_ request: StartRequest) async throws(CorralError) -> StartedInstance {
        let requested = HostProcess.monotonicNanoseconds()
        if let standby = standbys.takeClaimed(request.uuid) {
            if let started = try await startFromStandby(standby, request: request, requested: requested) {
                keepStandbys(like: request)
                return started
            }
        }
        let started = try await launch(request, requested: requested, standby: nil)
        keepStandbys(like: request)
        return started
    }

    /// What a standby's container is given besides a normal one's: its launch
    /// channel and its init program, passed to crun's init as descriptors 3 and 4.
    struct StandbyDescriptors {
        var channel: Int32
        var program: Int32
    }

    /// Starts a container for `request`: the whole cold path. With `standby`, the
    /// container's init is `corral-standby`, waiting for its command.
    func launch(_ request: StartRequest, requested: UInt64, standby: StandbyDescriptors?) async throws(CorralError) -> StartedInstance {
        let spec = request.spec
        let digest = try PinnedImage.digest(spec.image, driver: name)
        let runtime = try runtime("start instance")
        _ = try supervisor.watcher("start")
        let uuid = request.uuid
        let paths = paths(uuid)
        try await supervisor.refuseWhileRunning(uuid)
        let lower = try await images.rootfs(digest: digest)
        let image = try await images.config(digest: digest)
        for path in [lower, paths.upper, paths.work, paths.rootfs] where path.contains(where: { ",:\\".contains($0) }) {
            throw .unavailable("failed to start instance: overlayfs cannot take the path \(path) (it contains ',', ':' or '\\')")
        }
        let user = try ImageUser.resolve(image.user, rootfs: lower)

        var undo = UndoStack()
        do throws(CorralError) {
            try prepareDirectories(paths, undo: &undo)
            // A container of an earlier run that nobody cleaned up would block the id.
            try await deleteContainer(uuid, verb: "start instance")
            undo.push { [self] in try? await deleteContainer(uuid, verb: "start instance") }

            let cgroup = cgroup(uuid)
            try cgroup.create(limits: CgroupLimits(
                memoryBytes: Int64(spec.memoryMB) * 1024 * 1024,
                cpus: spec.vcpus > 0 ? spec.vcpus : nil,
                maxProcesses: maxProcesses
            ))
            undo.push {
                try? await cgroup.remove()
                try? cgroup.removeForeignDirectories()
            }
            if !cgroup.isEmpty() { await cgroup.killAll(waitUntilEmpty: true) }

            var attachment: NetworkAttachment?
            if let networking {
                attachment = try await networking.attach(uuid, name: request.name, ports: request.spec.ports)
                undo.push { await networking.detach(uuid) }
            }

            let bundle = ContainerBundle(
                uuid: uuid, name: request.name, spec: spec, image: image, user: user,
                rootfs: paths.rootfs, cgroupsPath: "/\(cgroup.relativePath)", networkNamespace: attachment?.netnsPath,
                hostsFile: paths.hosts, hostnameFile: paths.hostname,
                resolvConfFile: attachment.flatMap { $0.nameservers.isEmpty ? nil : paths.resolvConf },
                maxProcesses: maxProcesses,
                standby: standby != nil
            )
            try writeBundle(bundle, paths: paths, attachment: attachment)

            let parameters = ShimParameters(
                instanceDirectory: paths.directory,
                executable: runtime.executable,
                arguments: runtime.runArguments(
                    id: Self.containerID(uuid), bundle: paths.bundle, pidFile: paths.initPID, errorLog: paths.runtimeLog,
                    preserveDescriptors: standby == nil ? 0 : 2
                ),
                environment: ["PATH=\(ExecutableLookup.defaultSearchPath)"],
                workingDirectory: paths.bundle,
                cgroup2Directory: nil,
                cgroupJoin: [],
                cgroupMembers: cgroup.membersFile,
                freezerState: cgroup.freezerStateFile,
                cgroupKill: cgroup.killFile,
                oomCounter: cgroup.oomCounterFile,
                logBound: Int64(logBoundBytes),
                privateMounts: ShimParameters.PrivateMounts(
                    detach: hiddenMounts,
                    overlay: ShimParameters.OverlayMount(lower: lower, upper: paths.upper, work: paths.work, target: paths.rootfs)
                ),
                launcher: ShimParameters.Launcher(pidFile: paths.initPID, errorLog: paths.runtimeLog),
                passDescriptors: standby == nil ? 0 : 2,
                // A standby is prepared at the lowest priority, so it never takes CPU
                // from instances; its taker restores the default (`startFromStandby`).
                niceness: standby == nil ? 0 : 19
            )
            let launched = try await supervisor.launch(
                uuid, parameters: parameters, passing: standby.map { [$0.channel, $0.program] } ?? [],
                deadline: requested + Self.readyTimeoutNanoseconds
            ) { failure in
                Self.startFailure(failure, runtime: runtime.name, errors: OCIRuntime.errors(inLog: paths.runtimeLog))
            }
            undo.commit()

            var handle = launched.handle
            handle.attributes["runtime"] = runtime.name
            if let attachment {
                handle.attributes["ip"] = attachment.ip
                handle.attributes["mac"] = attachment.mac
            }
            let started = launched.startedAtMonotonicNanoseconds
            let boot = started > requested ? Int64((started - requested) / 1000) : 0
            logger.debug("started container", metadata: [
                "uuid": "\(uuid)", "init_pid": "\(handle.workloadPID)", "boot_time_us": "\(boot)",
            ])
            return StartedInstance(handle: handle, bootTimeMicroseconds: boot)
        } catch {
            await undo.unwind()
            throw error
        }
    }

    /// The instance directory, a fresh bundle with its `rootfs` mount point, and the
    /// writable layer (kept from an earlier run).
    func prepareDirectories(_ paths: ContainerPaths, undo: inout UndoStack) throws(CorralError) {
        do {
            if try FileSystem.makeDirectories(paths.directory, mode: 0o750) {
                let directory = paths.directory
                undo.push { try? FileSystem.removeTree(directory) }
            }
            removeRuntimeFiles(paths)
            undo.push { [self] in removeRuntimeFiles(paths) }
            try FileSystem.makeDirectories(paths.rootfs, mode: 0o755)
            try FileSystem.makeDirectories(paths.upper, mode: 0o755)
            try FileSystem.makeDirectories(paths.work, mode: 0o700)
        } catch {
            throw CorralError(.internal, "failed to start instance: cannot prepare \(paths.directory)", cause: error)
        }
    }

    /// Writes `config.json` and the files bind-mounted into `/etc`.
    func writeBundle(_ bundle: ContainerBundle, paths: ContainerPaths, attachment: NetworkAttachment?) throws(CorralError) {
        let spec = try bundle.runtimeSpec()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // The /etc files are read by the container's user; the spec holds the environment.
        var files: [(String, [UInt8], mode_t)] = [
            (paths.hosts, Array(bundle.hostsFileContent(address: attachment?.ip).utf8), 0o644),
            (paths.hostname, Array("\(bundle.name)\n".utf8), 0o644),
        ]
        if let attachment, !attachment.nameservers.isEmpty {
            files.append((paths.resolvConf, Array(attachment.nameservers.map { "nameserver \($0)\n" }.joined().utf8), 0o644))
        }
        do {
            files.append((paths.config, Array(try encoder.encode(spec)), 0o600))
        } catch {
            throw CorralError(.internal, "failed to start instance: cannot encode the OCI runtime spec", cause: error)
        }
        for (path, bytes, mode) in files {
            do {
                try RawFile.writeAtomically(path, bytes, durable: false, mode: mode)
            } catch {
                throw CorralError(.internal, "failed to start instance: cannot write \(path)", cause: error)
            }
        }
    }

    /// Removes the files of one run; the log and the writable layer stay.
    func removeRuntimeFiles(_ paths: ContainerPaths) {
        supervisor.removeRuntimeFiles(paths.instance, extra: ContainerPaths.runtimeFiles)
        for name in (try? FileSystem.entries(of: paths.directory)) ?? [] where name.hasPrefix("exec-") {
            try? RawFile.remove(paths.instance.file(name))
        }
        try? FileSystem.removeTree(paths.bundle)
    }

    /// Maps the shim's report of a failed start to an error; the runtime's own
    /// messages explain a `runtime` failure best.
    static func startFailure(_ failure: ShimSupervisor.StartFailure, runtime: String, errors: [String]) -> CorralError {
        switch failure.stage {
        case "runtime":
            let message = errors.last ?? failure.message
            let lowered = message.lowercased()
            if lowered.contains("executable file") || lowered.contains("not found in $path")
                || (lowered.contains("exec") && lowered.contains("permission denied")) {
                return .invalidArgument("failed to start instance: \(message)")
            }
            return .internal("failed to start instance: \(runtime): \(message)")
        case "mounts", "rootfs", "cgroup":
            return .unavailable("failed to start instance: \(failure.message)")
        default:
            return .internal("failed to start instance: \(failure.stage): \(failure.message)")
        }
    }

    /// Deletes the instance's container from every runtime that has one (`delete
    /// --force`, which kills what still runs in it). Idempotent.
    func deleteContainer(_ uuid: UUID, verb: String) async throws(CorralError) {
        let id = Self.containerID(uuid)
        for runtime in runtimes.values where RawFile.exists(runtime.stateDirectory(id)) {
            let watcher = try supervisor.watcher(verb)
            let outcome = try await runtime.command(["delete", "--force", id]).run(
                watcher: watcher, deadline: HostProcess.monotonicNanoseconds() + Self.runtimeTimeoutNanoseconds
            )
            guard RawFile.exists(runtime.stateDirectory(id)) else { continue }
            let reason = outcome.timedOut || outcome.interrupted ? "did not finish" : outcome.errorText
            throw .internal("failed to \(verb): \(runtime.name) delete --force \(id) failed: \(reason)")
        }
    }
}
