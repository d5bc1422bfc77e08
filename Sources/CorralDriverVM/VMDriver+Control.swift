import CorralAgentProtocol
import CorralCore
import CorralHost
import CorralShimFormat
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension VMDriver {
    /// Asks the VM to stop and returns: the agent is asked to SIGTERM the workload
    /// (SIGKILL after `shutdownGraceMilliseconds`) and report its exit, after which
    /// the guest powers off and QEMU exits. A paused VM is resumed first. Without
    /// an answering agent, an ACPI power-off through QMP (`system_powerdown`).
    public func terminate(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        guard Self.alive(handle)() else { return }
        if let qmp = try? await qmp(uuid, handle: handle, verb: "stop instance"), (try? await qmp.status()) == "paused" {
            try await qmp.execute("cont")
        }
        do {
            let agent = try await agent(uuid, handle: handle, verb: "stop instance")
            _ = try await agent.request(
                .shutdown(graceMilliseconds: configuration.shutdownGraceMilliseconds), verb: "stop instance", timeout: .seconds(5)
            )
        } catch {
            logger.debug("the guest agent did not take the shutdown; powering off through QMP", metadata: [
                "uuid": "\(uuid)", "error": "\(error)",
            ])
            try await qmp(uuid, handle: handle, verb: "stop instance").execute("system_powerdown")
        }
    }

    /// Ends QEMU now: QMP `quit`, then SIGKILL to everything of the instance if QEMU
    /// is still there after two seconds. Returns once the signals are sent; the
    /// shim reports the exit (QEMU's: no workload exit was recorded).
    public func kill(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        let alive = Self.alive(handle)
        guard alive() else {
            await supervisor.killRemains(uuid, handle: handle)
            return
        }
        // The workload dies with the machine: say so, unless the agent already
        // reported its own end. QEMU itself quits cleanly, so the overlay stays
        // consistent.
        let paths = paths(uuid)
        if !RawFile.exists(paths.workloadExit) {
            Self.recordWorkloadExit(.signaled(signal: SIGKILL), paths: paths, handle: handle, logger: logger)
        }
        if let qmp = channels.channels(uuid)?.qmp, qmp.isOpen {
            _ = try? await qmp.execute("quit", timeout: .seconds(2))
            let deadline = ContinuousClock.now + .seconds(2)
            while alive(), ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
        }
        if alive() { await supervisor.killRemains(uuid, handle: handle) }
    }

    /// Pauses the VM's vCPUs (QMP `stop`); returns once QEMU reports `paused`.
    public func freeze(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        let qmp = try await qmp(uuid, handle: handle, verb: "suspend instance")
        try await qmp.execute("stop")
        let status = try await qmp.status()
        guard status == "paused" else { throw .internal("failed to suspend instance: QEMU reports '\(status)' after stop") }
    }

    /// Resumes a paused VM (QMP `cont`); a running one is left as it is.
    public func thaw(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        let qmp = try await qmp(uuid, handle: handle, verb: "resume instance")
        if try await qmp.status() == "running" { return }
        try await qmp.execute("cont")
    }

    /// CPU time of QEMU (its cgroup, else its `/proc` stat) and the guest's memory
    /// in use (total minus available, from the agent), or QEMU's resident memory
    /// when the agent does not answer within a second.
    public func usage(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) -> InstanceUsage {
        guard Self.alive(handle)() else { throw .invalidState("failed to read metrics: instance is not running") }
        let cgroup = cgroup(uuid)
        var usage = cgroup.exists ? cgroup.usage() : InstanceUsage(rssBytes: nil, cpuTimeMilliseconds: nil)
        let process = Self.processUsage(pid: handle.workloadPID)
        if usage.cpuTimeMilliseconds == nil { usage.cpuTimeMilliseconds = process.cpuTimeMilliseconds }
        if let agent = try? await agent(uuid, handle: handle, verb: "read metrics"),
           case .metrics(let metrics)? = try? await agent.request(.metricsRequest, verb: "read metrics", timeout: .seconds(1)),
           metrics.memoryTotalKiB >= metrics.memoryAvailableKiB {
            usage.rssBytes = Int64(metrics.memoryTotalKiB - metrics.memoryAvailableKiB) * 1024
        } else {
            usage.rssBytes = process.rssBytes ?? usage.rssBytes
        }
        return usage
    }

    /// QEMU's resident memory and CPU time from `/proc/<pid>/stat`.
    static func processUsage(pid: Int32) -> InstanceUsage {
        guard let text = try? FileSystem.readText("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else {
            return InstanceUsage(rssBytes: nil, cpuTimeMilliseconds: nil)
        }
        // Fields after the command name, starting with field 3 (state).
        let fields = text[text.index(after: close)...].split(separator: " ")
        let ticks = Int64(sysconf(Int32(_SC_CLK_TCK)))
        let page = Int64(sysconf(Int32(_SC_PAGESIZE)))
        var cpu: Int64?
        if fields.count > 12, let user = Int64(fields[11]), let system = Int64(fields[12]), ticks > 0 {
            cpu = (user + system) * 1000 / ticks
        }
        let rss = fields.count > 21 ? Int64(fields[21]).map { $0 * page } : nil
        return InstanceUsage(rssBytes: rss, cpuTimeMilliseconds: cpu)
    }

    /// Reads the instance's log (the serial console) by absolute offsets.
    public func readLog(_ uuid: UUID, offset: Int64?, limit: Int) async throws(CorralError) -> LogChunk {
        try InstanceLog(directory: paths(uuid).directory).read(offset: offset, limit: limit)
    }

    /// Re-attaches to a VM after a daemon restart; the VM kept running under its
    /// shim. Connects QMP and the agent again (a failure there is logged and
    /// retried on the next operation). A VM that ended unobserved reports its
    /// workload's recorded exit when there is one.
    public func adopt(_ uuid: UUID, handle: DriverHandle) async -> AdoptionResult {
        let result = await supervisor.adopt(uuid, handle: handle)
        switch result {
        case .running:
            do {
                try await reconnect(uuid, handle: handle)
            } catch {
                logger.warning("adopted vm, but could not reconnect to it yet", metadata: [
                    "uuid": "\(uuid)", "error": "\(error)",
                ])
            }
            return result
        case .exited(let status):
            return .exited(VMExitSink.workloadStatus(paths: paths(uuid), qemu: status) ?? status)
        case .lost:
            return result
        }
    }

    private func reconnect(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        _ = try await qmp(uuid, handle: handle, verb: "adopt instance")
        _ = try await agent(uuid, handle: handle, verb: "adopt instance")
    }

    /// Removes every host resource of a stopped VM except its log and its disk: a
    /// QEMU still running is ended first, then its connections, the cgroups in
    /// every hierarchy, the tap and the run's files (sockets, workload exit).
    /// Idempotent.
    public func cleanup(_ uuid: UUID) async throws(CorralError) {
        await supervisor.endLiveShim(uuid)
        channels.remove(uuid)
        try await supervisor.removeCgroups(uuid)
        await networking?.detach(uuid)
        removeRuntimeFiles(paths(uuid))
    }

    /// `cleanup`, then the instance directory with its log and disk. Idempotent.
    public func destroy(_ uuid: UUID) async throws(CorralError) {
        try await cleanup(uuid)
        try supervisor.removeInstanceDirectory(uuid)
    }
}
