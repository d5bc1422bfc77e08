import CorralAgentProtocol
import CorralCore
import CorralHost
import CorralShimFormat
import CorralVMAssets
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension VMDriver {
    /// Prepares the disks, initramfs, cgroups and tap of the instance, launches
    /// QEMU under its shim, connects to QMP and the agent, sends the guest its
    /// configuration and returns once the agent reports `ready`;
    /// `bootTimeMicroseconds` runs from this call to that moment.
    ///
    /// Everything is bounded by the boot timeout. A failed start (QEMU exiting, the
    /// agent refusing the configuration, the timeout) kills QEMU without reporting
    /// its exit and removes what this start created: cgroups, tap, runtime files,
    /// the overlay if it made it, and the instance directory if it made that. The
    /// error carries the last lines of the console.
    ///
    /// The kernel and the initrd are each the instance's (`kernel.path`,
    /// `kernel.initrd`), else the file the image's `org.corral.vm.kernel` or
    /// `org.corral.vm.initrd` label names inside its rootfs, else the daemon's
    /// kernel and no initrd. The command line is the driver's defaults, the image's
    /// `org.corral.vm.cmdline` over them and the instance's `kernel.cmdline` over
    /// both. A bad label fails the start with `invalidArgument` naming it.
    public func start(_ request: StartRequest) async throws(CorralError) -> StartedInstance {
        let requested = HostProcess.monotonicNanoseconds()
        let spec = request.spec
        try validate(spec)
        let digest = try PinnedImage.digest(spec.image, driver: name)
        let qemu = try qemu("start instance")
        _ = try watcher("start instance")
        _ = try supervisor.watcher("start")
        guard FileSystem.isExecutableFile(configuration.shimPath) else {
            throw .unavailable("failed to start instance: corral-shim not found at \(configuration.shimPath)")
        }
        let uuid = request.uuid
        let paths = paths(uuid)
        try await supervisor.refuseWhileRunning(uuid)
        let decision = await accelerators.decision()
        let disks = try assets.disks("start instance")
        let rootfs = try await images.rootfs(digest: digest)
        let image = try await images.config(digest: digest)
        let labels = try ImageBootLabels(labels: image.labels)
        let kernelSource = BootFileSource.chosen(instance: spec.kernel?.path, image: labels.kernel)
        let kernel = try assets.kernel(kernelSource, rootfs: rootfs)
        let userInitrd = try assets.initrd(
            .initrd(instanceKernel: spec.kernel?.path, instance: spec.kernel?.initrd, image: labels.initrd), rootfs: rootfs)
        let user = try ImageUser.resolve(image.user, rootfs: rootfs)
        let workload = try VMWorkload.spec(image: image, spec: spec, user: user, hostname: request.name)
        let commandLine = try KernelCommandLine.defaults(
            machine: configuration.machine, accelerator: decision.accelerator,
            hostTSCKilohertz: KernelCommandLine.hostTSCKilohertz()
        ).laying(labels.cmdline).merging(spec.kernel?.cmdline ?? [:])
        let bootHint = Self.bootHint(kernelSource, kernel: kernel)

        var undo = UndoStack()
        do throws(CorralError) {
            try prepareDirectory(paths, undo: &undo)
            let base = try await disks.baseImage(rootfs: rootfs, digest: digest)
            if !RawFile.exists(paths.overlay) {
                try disks.createOverlay(base: base, at: paths.overlay)
                let overlay = paths.overlay
                undo.push { try? RawFile.remove(overlay) }
            }
            var volumes: [QEMUCommandLine.Volume] = []
            for (index, volume) in spec.volumes.enumerated() {
                let path = paths.volume(index)
                if !RawFile.exists(path) {
                    try await disks.createVolume(at: path, sizeMB: volume.sizeMB)
                    undo.push { try? RawFile.remove(path) }
                }
                volumes.append(QEMUCommandLine.Volume(path: path, readOnly: volume.readOnly))
            }
            let initrd: String
            if let userInitrd {
                try await assets.combined(userInitrd: userInitrd, kernel: kernel, at: paths.combinedInitrd)
                initrd = paths.combinedInitrd
            } else {
                initrd = try await assets.initramfs(for: kernel)
            }

            let cgroup = cgroup(uuid)
            if supervisor.layout != .none {
                try cgroup.create(limits: CgroupLimits(
                    memoryBytes: Self.cgroupMemoryBytes(guestMB: spec.memoryMB),
                    // QEMU's main loop and I/O run beside the vCPU threads.
                    cpus: spec.vcpus + 1,
                    maxProcesses: maxProcesses
                ))
                undo.push { try? await cgroup.remove() }
                if !cgroup.isEmpty() { await cgroup.killAll(waitUntilEmpty: true) }
            }

            var attachment: VMNetworkAttachment?
            if let networking {
                attachment = try await networking.attach(uuid, name: request.name, ports: spec.ports)
                undo.push { await networking.detach(uuid) }
            }

            let command = QEMUCommandLine(
                executable: qemu, machine: configuration.machine, accelerator: decision.accelerator,
                memoryMB: spec.memoryMB, vcpus: spec.vcpus, kernel: kernel.path, initrd: initrd,
                kernelCommandLine: commandLine.rendered, rootDisk: paths.overlay, agentSocket: paths.agentSocket,
                qmpSocket: paths.qmpSocket, network: attachment.map { QEMUCommandLine.Network(tap: $0.tap, mac: $0.mac) },
                volumes: volumes
            )
            let parameters = ShimParameters(
                instanceDirectory: paths.directory,
                executable: qemu,
                arguments: command.arguments,
                environment: ["PATH=\(ExecutableLookup.defaultSearchPath)"],
                workingDirectory: paths.directory,
                cgroup2Directory: cgroup.unifiedDirectory,
                cgroupJoin: cgroup.joinFiles,
                cgroupMembers: cgroup.membersFile,
                freezerState: cgroup.freezerStateFile,
                cgroupKill: cgroup.killFile,
                oomCounter: cgroup.oomCounterFile,
                logBound: Int64(configuration.logBoundBytes)
            )
            // The boot timeout bounds the boot alone: preparing the disks and probing
            // the accelerator before it may take longer on a first start.
            let deadline = HostProcess.monotonicNanoseconds()
                + UInt64(configuration.bootTimeout.components.seconds) * 1_000_000_000
                + UInt64(configuration.bootTimeout.components.attoseconds / 1_000_000_000)
            let launched = try await supervisor.launch(uuid, parameters: parameters, deadline: deadline) { failure in
                .internal("failed to start instance: cannot run QEMU: \(failure.stage): \(failure.message)")
            }
            undo.push { [self] in await endFailedRun(uuid) }

            var handle = launched.handle
            let config = GuestConfig(
                workload: workload, uid: user.uid, gid: user.gid, groups: user.additionalGids, hostname: request.name,
                network: attachment.map {
                    GuestNetwork(
                        mac: $0.mac, address: $0.ip, prefixLength: UInt8(clamping: $0.prefixLength), gateway: $0.gateway,
                        nameservers: $0.nameservers
                    )
                },
                volumes: spec.volumes.enumerated().map { index, volume in
                    GuestVolume(
                        device: "serial:\(QEMUCommandLine.volumeSerial(index))", mountPoint: volume.mountPoint,
                        readOnly: volume.readOnly)
                }
            )
            try await boot(uuid, handle: handle, config: config, deadline: deadline, hint: bootHint)
            let readyAt = HostProcess.monotonicNanoseconds()
            undo.commit()

            handle.attributes = [
                "accelerator": decision.accelerator.rawValue, "machine": configuration.machine.rawValue,
                "qmp": paths.qmpSocket, "agent": paths.agentSocket, "kernel": kernel.path,
            ]
            if let attachment {
                handle.attributes["tap"] = attachment.tap
                handle.attributes["ip"] = attachment.ip
                handle.attributes["mac"] = attachment.mac
            }
            let boot = readyAt > requested ? Int64((readyAt - requested) / 1000) : 0
            logger.debug("started vm", metadata: [
                "uuid": "\(uuid)", "qemu_pid": "\(handle.workloadPID)", "boot_time_us": "\(boot)",
                "accelerator": "\(decision.accelerator.rawValue)",
            ])
            return StartedInstance(handle: handle, bootTimeMicroseconds: boot)
        } catch {
            await undo.unwind()
            throw error
        }
    }

    /// Connects QMP and the agent of a just-launched QEMU, sends `config`, and
    /// waits for `ready`; every wait ends by `deadline` or when QEMU exits.
    private func boot(
        _ uuid: UUID, handle: DriverHandle, config: GuestConfig, deadline: UInt64, hint: String?
    ) async throws(CorralError) {
        let paths = paths(uuid)
        let watcher = try watcher("start instance")
        let alive: @Sendable () -> Bool = {
            HostProcess.isAlive(pid: handle.workloadPID, startTime: handle.workloadStartTime)
        }
        var refusal: CorralError?
        do throws(CorralError) {
            let qmp = try await QMPClient.connect(path: paths.qmpSocket, watcher: watcher, deadline: deadline, keepTrying: alive)
            let agent = try await connectAgent(uuid, handle: handle, deadline: deadline, keepTrying: alive)
            channels.set(uuid, .init(qmp: qmp, agent: agent, shimPID: handle.shimPID))
            let reply: AgentMessage
            do throws(CorralError) {
                reply = try await agent.request(.configure(config), verb: "start instance", timeout: Self.remaining(deadline))
            } catch {
                // `internal` is the agent's own `error` answer; the rest are the channel's.
                if error.code == .internal { refusal = error }
                throw error
            }
            guard reply == .ok else {
                throw CorralError.internal("failed to start instance: the guest agent answered configure with \(reply.type)")
            }
            _ = try await agent.waitReady(timeout: Self.remaining(deadline))
        } catch {
            if let refusal { throw Self.refusal(refusal) }
            throw bootFailure(error, paths: paths, qemuAlive: alive(), deadline: deadline, hint: hint)
        }
    }

    /// What a failed boot's error adds about its kernel: an image kernel whose
    /// image has no modules for it boots with an initramfs without modules, so a
    /// guest that lacks built-in virtio drivers finds neither its disk nor its port.
    static func bootHint(_ source: BootFileSource, kernel: VMKernel) -> String? {
        guard case .image(let inner) = source, kernel.modulesDirectory == nil else { return nil }
        let modules = kernel.version.map { "/lib/modules/\($0)" } ?? "/lib/modules/<version> (the version is unreadable)"
        return "the kernel \(inner) comes from the image, which has no \(modules): the initramfs holds no kernel modules"
    }

    /// The agent's refusal of the configuration: the user's mistake when the
    /// command or a path cannot be found or run.
    static func refusal(_ error: CorralError) -> CorralError {
        let lowered = error.message.lowercased()
        if lowered.contains("no such file") || lowered.contains("not found") || lowered.contains("permission denied")
            || lowered.contains("exec format") {
            return .invalidArgument(error.message)
        }
        return error
    }

    /// The error of a boot that did not reach `ready`, with the console's last lines.
    private func bootFailure(
        _ error: CorralError, paths: VMPaths, qemuAlive: Bool, deadline: UInt64, hint: String?
    ) -> CorralError {
        let tail = Self.consoleTail(paths, lines: 12)
        let console = tail.isEmpty ? "the console is empty" : "last console lines:\n\(tail)"
        let detail = (hint.map { "\($0); " } ?? "") + console
        if error.code == .timeout || HostProcess.monotonicNanoseconds() >= deadline {
            return .timeout(
                "failed to start instance: the guest did not report ready within \(configuration.bootTimeout); \(detail)"
            )
        }
        if !qemuAlive {
            return .internal("failed to start instance: QEMU exited during boot; \(detail)")
        }
        return CorralError(error.code, "\(error.description); \(detail)")
    }

    /// The last `lines` lines of the instance log, without carriage returns.
    static func consoleTail(_ paths: VMPaths, lines: Int) -> String {
        guard let chunk = try? InstanceLog(directory: paths.directory).read(offset: nil, limit: 8192) else { return "" }
        let text = String(decoding: chunk.bytes, as: UTF8.self).replacingOccurrences(of: "\r", with: "")
        return text.split(separator: "\n", omittingEmptySubsequences: true).suffix(lines).joined(separator: "\n")
    }

    /// Connects to the agent of the run `handle` names; its workload exit is
    /// recorded in `workload-exit` naming that run's shim.
    func connectAgent(
        _ uuid: UUID, handle: DriverHandle, deadline: UInt64, keepTrying: @escaping @Sendable () -> Bool
    ) async throws(CorralError) -> AgentClient {
        let paths = paths(uuid)
        let logger = self.logger
        return try await AgentClient.connect(
            path: paths.agentSocket, watcher: try watcher("connect to the guest agent"), deadline: deadline,
            keepTrying: keepTrying
        ) { termination in
            switch termination {
            case .exited(let code): Self.recordWorkloadExit(.exited(code: code), paths: paths, handle: handle, logger: logger)
            case .signaled(let signal): Self.recordWorkloadExit(.signaled(signal: signal), paths: paths, handle: handle, logger: logger)
            }
        }
    }

    /// Writes how the workload of the run `handle` names ended to `workload-exit`,
    /// durably; says whether it did (an error is logged).
    @discardableResult
    static func recordWorkloadExit(
        _ termination: ExitRecord.Termination, paths: VMPaths, handle: DriverHandle, logger: Logger
    ) -> Bool {
        let record = ExitRecord(
            shimPID: handle.shimPID, shimStartTime: handle.shimStartTime, workloadPID: handle.workloadPID,
            termination: termination, oomKilled: false,
            timeNanoseconds: Int64(Date().timeIntervalSince1970 * 1_000_000_000)
        )
        do {
            try RawFile.writeAtomically(paths.workloadExit, record.encode(), durable: true, mode: 0o600)
            return true
        } catch {
            logger.error("failed to record the workload's exit", metadata: ["path": "\(paths.workloadExit)", "error": "\(error)"])
            return false
        }
    }

    /// Ends the QEMU of a start that failed after it was launched, without
    /// reporting its exit.
    private func endFailedRun(_ uuid: UUID) async {
        channels.silence(uuid, true)
        channels.remove(uuid)
        await supervisor.endLiveShim(uuid)
        channels.silence(uuid, false)
    }

    /// The instance directory, and no files of an earlier run (the log and the
    /// overlay stay).
    private func prepareDirectory(_ paths: VMPaths, undo: inout UndoStack) throws(CorralError) {
        do {
            if try FileSystem.makeDirectories(paths.directory, mode: 0o750) {
                let directory = paths.directory
                undo.push { try? FileSystem.removeTree(directory) }
            }
        } catch {
            throw CorralError(.internal, "failed to start instance: cannot prepare \(paths.directory)", cause: error)
        }
        removeRuntimeFiles(paths)
        undo.push { [self] in removeRuntimeFiles(paths) }
    }

    /// Removes the files of one run; the log and the overlay stay.
    func removeRuntimeFiles(_ paths: VMPaths) {
        supervisor.removeRuntimeFiles(paths.instance, extra: VMPaths.runtimeFiles)
    }

    /// The cgroup memory limit of a VM with `guestMB` of RAM: the guest's memory
    /// plus QEMU's own (its code, device state, TCG's translation cache of up to
    /// 1/4 of guest RAM by default, capped) and the page cache of disk I/O.
    static func cgroupMemoryBytes(guestMB: Int) -> Int64 {
        let overheadMB = 256 + min(guestMB / 4, 1024)
        return Int64(guestMB + overheadMB) * 1024 * 1024
    }

    static func remaining(_ deadline: UInt64) -> Duration {
        let now = HostProcess.monotonicNanoseconds()
        return .nanoseconds(Int64(deadline > now ? deadline - now : 0))
    }
}
