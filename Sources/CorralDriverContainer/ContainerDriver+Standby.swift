import CCorralSpawn
import CorralCore
import CorralHost
import CorralShimFormat
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Standbys: for the images started most recently, the driver keeps containers
/// started ahead of time whose init is `corral-standby`, waiting for a command.
/// Everything crun does for a container (namespaces, the overlay root, mounts,
/// cgroups, capabilities, the seccomp filter) and the network attachment are done
/// by then; an instance of that image created and started at once takes one over
/// (`claimStandby` gives it the standby's uuid, which names all of it), and its
/// start is: the instance's limits, host name, `/etc/hosts` and `/etc/hostname`
/// and published ports, then its command sent to the waiting init, which execs it
/// as the container's pid 1 under the instance's user and working directory.
///
/// A standby is refilled in the background after each start of its image. It is
/// never an instance: not listed, its resources named by a uuid no record has
/// until one claims it, and marked on disk by a `standby` file in its instance
/// directory until its instance's command runs, so a daemon that restarts
/// discards every standby the previous one left (`discardLeftoverStandbys`).
extension ContainerDriver {
    /// Launch messages larger than this go the normal way instead: the channel is
    /// a socket whose messages must fit its send buffer (about 208 KiB by default,
    /// of which the kernel's own accounting takes a share).
    static let standbyMessageLimit = 64 << 10
    /// How long a standby's init may take to exec the command.
    static let standbyLaunchTimeoutNanoseconds: UInt64 = 10_000_000_000
    static let standbyMarker = "standby"
    /// How long after a start its image's standby is prepared again. What follows
    /// a start at once (the instance's first steps, the exit of a command that
    /// quick, the client's next request) goes first: preparing takes the daemon's
    /// store (an address lease, written durably) and about 15 ms of CPU, at nice 19
    /// only for crun and the shim.
    static let standbyRefillDelay: Duration = .milliseconds(20)

    public func claimStandby(for spec: InstanceSpec) -> UUID? {
        guard standbyProgram != nil, let digest = try? PinnedImage.digest(spec.image, driver: name) else { return nil }
        return standbys.claim(digest: digest)
    }

    public func releaseStandby(_ uuid: UUID) async {
        if let standby = standbys.takeClaimed(uuid) { await discard(standby) }
    }

    public func standbyStatus() -> StandbyStatus? {
        standbyProgram == nil ? nil : standbys.status
    }

    /// Discards every ready standby, and keeps none until their images are started
    /// again; with `close` (daemon shutdown), none at all from now on. Returns once
    /// a preparation under way has ended too (its standby is discarded by the
    /// filler, which finds its image no longer kept), or after 15 s.
    public func discardStandbys(close: Bool = false) async {
        for standby in standbys.drain(close: close) { await discard(standby) }
        let deadline = ContinuousClock.now + .seconds(15)
        while standbys.isFilling, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// At daemon start: removes every standby a previous daemon left (its instance
    /// directory still has the `standby` marker), including one claimed by an
    /// instance whose command never ran; that instance's start is made again from
    /// scratch.
    public func discardLeftoverStandbys() async {
        let root = "\(supervisor.stateDirectory)/instances"
        for entry in (try? FileSystem.entries(of: root)) ?? [] {
            guard let uuid = UUID(uuidString: entry), RawFile.exists("\(root)/\(entry)/\(Self.standbyMarker)") else { continue }
            logger.debug("discarding a standby left by an earlier daemon", metadata: ["uuid": "\(uuid)"])
            do {
                try await destroy(uuid)
            } catch {
                logger.error("cannot remove a leftover standby", metadata: ["uuid": "\(uuid)", "error": "\(error)"])
            }
        }
    }

    /// Takes over a claimed standby for `request`; nil when the standby cannot be
    /// used (it died, or the command is too large to send), after discarding it.
    func startFromStandby(_ standby: Standby, request: StartRequest, requested: UInt64) async throws(CorralError) -> StartedInstance? {
        let uuid = request.uuid
        let paths = paths(uuid)
        let handle = standby.handle
        guard HostProcess.isAlive(pid: handle.workloadPID, startTime: handle.workloadStartTime) else {
            await discard(standby)
            return nil
        }
        let spec: OCIRuntimeSpec
        do throws(CorralError) {
            let lower = try await images.rootfs(digest: standby.digest)
            let image = try await images.config(digest: standby.digest)
            let user = try ImageUser.resolve(image.user, rootfs: lower)
            spec = try ContainerBundle(
                uuid: uuid, name: request.name, spec: request.spec, image: image, user: user,
                rootfs: paths.rootfs, cgroupsPath: "/\(cgroup(uuid).relativePath)", networkNamespace: nil,
                hostsFile: paths.hosts, hostnameFile: paths.hostname, resolvConfFile: nil, maxProcesses: maxProcesses
            ).runtimeSpec()
        } catch {
            await discard(standby)
            throw error
        }
        let message = Self.launchMessage(spec.process)
        // The standby was prepared at nice 19; its shim and its init (so the
        // command) run at the default priority like those of any instance.
        guard message.count <= Self.standbyMessageLimit,
              setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(handle.shimPID), 0) == 0,
              setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(handle.workloadPID), 0) == 0
        else {
            await discard(standby)
            return nil
        }

        do throws(CorralError) {
            try cgroup(uuid).apply(CgroupLimits(
                memoryBytes: Int64(request.spec.memoryMB) * 1024 * 1024,
                cpus: request.spec.vcpus > 0 ? request.spec.vcpus : nil,
                maxProcesses: nil
            ))
            if corral_set_hostname_of(handle.workloadPID, request.name) != 0 {
                throw CorralError.internal("failed to start instance: cannot set its host name: \(SystemCallError.describe(errno: errno))")
            }
            let address = handle.attributes["ip"]
            try Self.overwrite(paths.hosts, ContainerBundle.hostsFileContent(name: request.name, address: address))
            try Self.overwrite(paths.hostname, "\(request.name)\n")
            if let networking, let address, !request.spec.ports.isEmpty {
                try await networking.publish(uuid, ports: request.spec.ports, ip: address)
            }
            try await launchCommand(message, on: standby)
        } catch {
            close(standby.channel)
            try? await destroy(uuid)
            throw error
        }
        close(standby.channel)
        try? RawFile.remove(paths.instance.file(Self.standbyMarker))

        let now = HostProcess.monotonicNanoseconds()
        let boot = now > requested ? Int64((now - requested) / 1000) : 0
        logger.debug("started container from a standby", metadata: [
            "uuid": "\(uuid)", "init_pid": "\(handle.workloadPID)", "boot_time_us": "\(boot)",
        ])
        return StartedInstance(handle: handle, bootTimeMicroseconds: boot)
    }

    /// Sends the launch message and waits for the init's answer: end of file once
    /// the command runs (the channel is close-on-exec), or its failure.
    private func launchCommand(_ message: [UInt8], on standby: Standby) async throws(CorralError) {
        let sent = message.withUnsafeBytes { send(standby.channel, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == message.count else {
            throw .internal("failed to start instance: cannot send the command to its standby: \(SystemCallError.describe(errno: errno))")
        }
        let watcher = try supervisor.watcher("start instance")
        let copy = dup(standby.channel)
        guard copy >= 0 else {
            throw .internal("failed to start instance: cannot watch its standby: \(SystemCallError.describe(errno: errno))")
        }
        let event = await watcher.waitReadable(
            copy, deadline: HostProcess.monotonicNanoseconds() + Self.standbyLaunchTimeoutNanoseconds
        )
        guard event == .readable else {
            throw event == .timedOut
                ? .timeout("failed to start instance: its command did not start within \(Self.standbyLaunchTimeoutNanoseconds / 1_000_000_000) s")
                : .unavailable("failed to start instance: the container driver is shutting down")
        }
        var reply = [UInt8](repeating: 0, count: 4096)
        let count = reply.withUnsafeMutableBytes { recv(standby.channel, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if count == 0 { return }
        guard count > 0 else {
            throw .internal("failed to start instance: cannot read its standby's answer: \(SystemCallError.describe(errno: errno))")
        }
        throw Self.launchFailure(Array(reply[0..<count]))
    }

    /// `corral-standby`'s failure report ("error", stage, errno, text) as the error
    /// crun's own report of the same failure gives.
    static func launchFailure(_ reply: [UInt8]) -> CorralError {
        let fields = reply.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard fields.count >= 4, fields[0] == "error" else {
            return .internal("failed to start instance: its standby answered '\(String(decoding: reply, as: UTF8.self))'")
        }
        let stage = fields[1], text = fields[3]
        switch stage {
        case "exec", "cwd": return .invalidArgument("failed to start instance: \(text)")
        default: return .internal("failed to start instance: \(stage): \(text)")
        }
    }

    /// The launch message for `process` (see `Sources/corral-standby/main.c`).
    static func launchMessage(_ process: OCIRuntimeSpec.Process) -> [UInt8] {
        var fields = ["corral-standby 1", String(process.user.uid), String(process.user.gid)]
        let groups = process.user.additionalGids ?? []
        fields.append(String(groups.count))
        fields += groups.map { String($0) }
        fields.append(process.cwd)
        fields.append(String(process.args.count))
        fields += process.args
        fields.append(String(process.env.count))
        fields += process.env
        var bytes: [UInt8] = []
        for field in fields {
            bytes += field.utf8
            bytes.append(0)
        }
        return bytes
    }

    /// Rewrites a file bind-mounted into a container in place: a new file renamed
    /// over it would not be the one the container sees.
    private static func overwrite(_ path: String, _ text: String) throws(CorralError) {
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else {
            throw .internal("failed to start instance: cannot open \(path): \(SystemCallError.describe(errno: errno))")
        }
        defer { close(fd) }
        do {
            try RawFile.writeAll(fd: fd, Array(text.utf8), path: path)
        } catch {
            throw CorralError(.internal, "failed to start instance: cannot write \(path)", cause: error)
        }
    }

    // MARK: Keeping standbys

    /// After a start of `request`'s image: keeps its standbys coming, in the
    /// background, one preparation at a time, beginning `standbyRefillDelay` later.
    func keepStandbys(like request: StartRequest) {
        guard standbyProgram != nil, standbys.perImage > 0,
              let digest = try? PinnedImage.digest(request.spec.image, driver: name) else { return }
        var template = request.spec
        template.vcpus = 0
        template.ports = []
        let evicted = standbys.noteStarted(digest: digest, template: template)
        Task {
            for standby in evicted { await discard(standby) }
            try? await Task.sleep(for: Self.standbyRefillDelay)
            guard standbys.beginFilling() else { return }
            while let (digest, template) = standbys.nextToPrepare() {
                do throws(CorralError) {
                    let standby = try await prepareStandby(digest: digest, template: template)
                    if !standbys.add(standby) { await discard(standby) }
                } catch {
                    standbys.failed(digest: digest)
                    logger.warning("cannot prepare a standby container", metadata: ["digest": "\(digest)", "error": "\(error)"])
                }
            }
        }
    }

    /// Starts one standby of `digest`'s image.
    private func prepareStandby(digest: String, template: InstanceSpec) async throws(CorralError) -> Standby {
        guard let program = standbyProgram else { throw .unavailable("standbys need corral-standby") }
        let uuid = UUID()
        let paths = paths(uuid)
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw .internal("failed to prepare a standby: socketpair: \(SystemCallError.describe(errno: errno))")
        }
        let programFD = open(program, O_RDONLY | O_CLOEXEC)
        defer {
            close(pair[1])
            if programFD >= 0 { close(programFD) }
        }
        do throws(CorralError) {
            guard programFD >= 0 else {
                throw .unavailable("failed to prepare a standby: cannot open \(program): \(SystemCallError.describe(errno: errno))")
            }
            do {
                _ = try FileSystem.makeDirectories(paths.directory, mode: 0o750)
                try RawFile.writeAtomically(paths.instance.file(Self.standbyMarker), [], durable: true)
            } catch {
                throw CorralError(.internal, "failed to prepare a standby in \(paths.directory)", cause: error)
            }
            let request = StartRequest(uuid: uuid, name: "standby-\(uuid.uuidString.prefix(8).lowercased())", spec: template)
            let started = try await launch(
                request, requested: HostProcess.monotonicNanoseconds(),
                standby: StandbyDescriptors(channel: pair[1], program: programFD)
            )
            return Standby(uuid: uuid, digest: digest, channel: pair[0], handle: started.handle)
        } catch {
            close(pair[0])
            try? await destroy(uuid)
            throw error
        }
    }

    /// Ends a standby and removes all of it; its exit is nobody's to report.
    private func discard(_ standby: Standby) async {
        supervisor.forget(standby.uuid)
        close(standby.channel)
        do {
            try await destroy(standby.uuid)
        } catch {
            logger.error("cannot remove a standby", metadata: ["uuid": "\(standby.uuid)", "error": "\(error)"])
        }
    }
}
