import CCorralSpawn
import CorralAgentProtocol
import Glibc

/// `corral-agent init`: PID 1 of a microVM.
///
/// Boot: mounts /proc, /sys and /dev, loads the modules listed in the initramfs,
/// answers a probe boot (`corral.probe=1`) by printing `corral-agent: probe ok` and
/// powering off, finds the virtio-serial port named `corral.agent` and waits for
/// the host's `configure`. Configured: the root disk is mounted and made the root,
/// the network set up, the workload started, `ready` sent. Then it serves host
/// requests, one-shot execs (`GuestExecs`) and interactive sessions
/// (`GuestSessions`) without waiting on any command, reaps every orphan (handing
/// the exits of exec and session commands to them), forwards SIGTERM to the workload and turns
/// SIGINT/SIGPWR (ctrl-alt-del, power failure) and the ACPI power button into a
/// 10 s graceful stop. When the
/// workload exits it reports `workloadExited`, waits at most 10 s for the host's
/// acknowledgement, stops everything that is left and powers off. Refuses to run
/// unless it is PID 1: it only ever mounts in and powers off its own machine.
struct InitSupervisor {
    /// The virtio-serial port name the host gives the agent channel.
    static let portName = "corral.agent"
    /// The kernel parameter that asks for a probe boot.
    static let probeParameter = "corral.probe=1"
    static let probeMarker = "corral-agent: probe ok"
    /// Request ids the agent picks for what it sends on its own and wants
    /// acknowledged have the high bit set, apart from the host's.
    static let exitRequestID: UInt32 = 0x8000_0001
    static let exitAcknowledgementMilliseconds: Int64 = 10_000
    static let signalStopMilliseconds: UInt32 = 10_000

    /// Where the machine is in its life; each case carries what is valid in it.
    enum Phase {
        case awaitingConfiguration
        case running(Workload)
        case exiting(termination: ProcessTermination, config: GuestConfig, deadline: Int64)
    }

    struct Workload {
        var pid: pid_t
        var config: GuestConfig
        /// When a stop was asked for: the time of the SIGKILL.
        var killDeadline: Int64?
    }

    private var port: HostPort
    private let signalFD: Int32
    private let powerButton = PowerButton.open()
    private var server = AgentServer()
    private var phase = Phase.awaitingConfiguration
    private var sessions = GuestSessions()
    private var execs = GuestExecs()

    static func main() -> Int32 {
        guard getpid() == 1 else {
            Console.print("corral-agent init: refusing to run: not PID 1 (pid \(getpid()))")
            return 2
        }
        EarlyBoot.mountPseudoFileSystems()
        _ = corral_agent_disable_ctrl_alt_del()
        EarlyBoot.loadModules()
        if EarlyBoot.commandLine(EarlyBoot.kernelCommandLine(), has: probeParameter) {
            Console.print(probeMarker)
            powerOff(volumes: [])
        }
        let signals: [Int32] = [SIGCHLD, SIGTERM, SIGINT, SIGPWR]
        let signalFD = signals.withUnsafeBufferPointer { corral_agent_signalfd($0.baseAddress, Int32($0.count)) }
        if signalFD < 0 { fail(AgentSystemError("watch signals", call: "signalfd").description) }
        guard let path = EarlyBoot.findPort(named: portName, milliseconds: 10_000) else {
            fail("corral-agent: failed to find the host channel: no virtio-serial port named \(portName) in 10 s")
        }
        do throws(AgentSystemError) {
            var supervisor = InitSupervisor(port: try HostPort(path: path), signalFD: signalFD)
            supervisor.run()
        } catch {
            fail("corral-agent: \(error)")
        }
    }

    private init(port: HostPort, signalFD: Int32) {
        self.port = port
        self.signalFD = signalFD
    }

    private mutating func run() -> Never {
        while true {
            // Sessions and execs belong to the connection that started them.
            if port.connection == .disconnected, !sessions.isEmpty { sessions.killAll(port: &port) }
            if port.connection == .disconnected, !execs.isEmpty { execs.killAll() }
            if port.connection == .disconnected, port.checkConnection() { hostConnected() }
            var fds = [
                pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: powerButton?.fd ?? -1, events: Int16(POLLIN), revents: 0),
            ]
            let portConnected = port.connection == .connected
            if portConnected {
                let events = POLLIN | (port.hasPendingOutput ? POLLOUT : 0)
                fds.append(pollfd(fd: port.fd, events: Int16(events), revents: 0))
            }
            let sessionStart = fds.count
            let watches = sessions.watches(portBacklog: port.pendingOutputCount)
            fds.append(contentsOf: watches.map(\.0))
            let execStart = fds.count
            let execWatches = execs.watches()
            fds.append(contentsOf: execWatches.map(\.0))
            _ = poll(&fds, nfds_t(fds.count), pollTimeout())
            handleDeadlines()
            handleSignals()
            if fds[1].revents != 0, powerButton?.pressed() == true { stop(graceMilliseconds: Self.signalStopMilliseconds) }
            if portConnected, fds[2].revents != 0 {
                // Data the host sent just before it left still arrives: read and serve
                // it first, then notice the hang-up.
                let open = port.receive()
                if open, fds[2].revents & Int16(POLLHUP) != 0 {
                    // The poll saw the host gone, yet the read ended on "no more data"
                    // rather than end of file: another host is connected already, and
                    // what was read may be its first requests. The old connection's
                    // work ends before they are served, not after.
                    port.hostReplaced()
                    sessions.killAll(port: &port)
                    execs.killAll()
                    hostConnected()
                }
                serveFrames()
                port.flush()
                if !open {
                    port.hostLeft()
                    sessions.killAll(port: &port)
                    execs.killAll()
                }
            }
            for (index, watch) in watches.enumerated() {
                sessions.ready(watch.1, revents: fds[sessionStart + index].revents, port: &port)
            }
            for (index, watch) in execWatches.enumerated() {
                execs.ready(watch.1, fds[execStart + index])
            }
            sessions.finishEnded(port: &port)
            execs.finishEnded(port: &port)
        }
    }

    /// Milliseconds until the next thing to do without an event: the nearest
    /// deadline, or the next look at a disconnected port (often while the host is
    /// expected to connect, rarely afterwards).
    private func pollTimeout() -> Int32 {
        var wait: Int64 = -1
        if port.connection == .disconnected {
            if case .awaitingConfiguration = phase { wait = 10 } else { wait = 200 }
        }
        let phaseDeadline: Int64?
        switch phase {
        case .awaitingConfiguration: phaseDeadline = nil
        case .running(let workload): phaseDeadline = workload.killDeadline
        case .exiting(_, _, let exitDeadline): phaseDeadline = exitDeadline
        }
        let now = monotonicMilliseconds()
        for deadline in [phaseDeadline, execs.nextDeadline, sessions.nextDeadline].compactMap({ $0 }) {
            let remaining = max(deadline - now, 0) + 1
            wait = wait < 0 ? remaining : min(wait, remaining)
        }
        return Int32(clamping: wait)
    }

    private mutating func hostConnected() {
        // A host that reconnects while the exit waits for its acknowledgement hears it again.
        if case .exiting(let termination, _, _) = phase {
            port.send(.workloadExited(termination), requestID: Self.exitRequestID)
        }
    }

    private mutating func handleDeadlines() {
        let now = monotonicMilliseconds()
        switch phase {
        case .running(var workload):
            if let deadline = workload.killDeadline, now >= deadline {
                kill(-workload.pid, SIGKILL)
                kill(workload.pid, SIGKILL)
                workload.killDeadline = nil
                phase = .running(workload)
            }
        case .exiting(_, let config, let deadline):
            if now >= deadline {
                Console.print("corral-agent: the host did not acknowledge the workload's exit in 10 s; powering off")
                Self.powerOff(volumes: config.volumes)
            }
        case .awaitingConfiguration:
            break
        }
    }

    private mutating func handleSignals() {
        while true {
            let signal = corral_agent_read_signal(signalFD)
            if signal <= 0 { break }
            switch signal {
            case SIGCHLD: break
            case SIGTERM:
                if case .running(let workload) = phase { kill(workload.pid, SIGTERM) } else { stop(graceMilliseconds: 0) }
            default: stop(graceMilliseconds: Self.signalStopMilliseconds)
            }
        }
        // Every orphan is PID 1's to reap; a SIGCHLD may also have been merged with
        // one consumed while an exec ran.
        var status: Int32 = 0
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            if pid < 0, errno == EINTR { continue }
            if pid <= 0 { return }
            let signal = status & 0x7F
            let termination: ProcessTermination = signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
            if case .running(let workload) = phase, pid == workload.pid {
                workloadExited(termination, config: workload.config)
            } else if !execs.reaped(pid, termination) {
                _ = sessions.reaped(pid, termination)
            }
        }
    }

    private mutating func workloadExited(_ termination: ProcessTermination, config: GuestConfig) {
        phase = .exiting(
            termination: termination, config: config,
            deadline: monotonicMilliseconds() + Self.exitAcknowledgementMilliseconds)
        port.send(.workloadExited(termination), requestID: Self.exitRequestID)
    }

    /// SIGTERM to the workload, SIGKILL after the grace; with no workload yet,
    /// powers off at once.
    private mutating func stop(graceMilliseconds: UInt32) {
        switch phase {
        case .awaitingConfiguration:
            port.drain(milliseconds: 1000)
            Self.powerOff(volumes: [])
        case .running(var workload):
            kill(workload.pid, SIGTERM)
            let deadline = monotonicMilliseconds() + Int64(graceMilliseconds)
            workload.killDeadline = min(workload.killDeadline ?? deadline, deadline)
            phase = .running(workload)
        case .exiting:
            break
        }
    }

    private mutating func serveFrames() {
        while true {
            let frame: AgentFrame
            do throws(AgentProtocolError) {
                guard let next = try port.nextFrame() else { return }
                frame = next
            } catch {
                port.send(.error(error.description), requestID: 0)
                continue
            }
            let message: AgentMessage
            do throws(AgentProtocolError) {
                message = try AgentMessage(frame: frame)
            } catch {
                port.send(.error(error.description), requestID: frame.requestID)
                continue
            }
            handle(message, requestID: frame.requestID)
        }
    }

    private mutating func handle(_ message: AgentMessage, requestID: UInt32) {
        switch (message, phase) {
        case (.configure(let config), .awaitingConfiguration):
            configure(config, requestID: requestID)
        case (.configure(let config), .running(let workload)):
            answerRepeatedConfigure(config, current: workload.config, requestID: requestID)
        case (.configure(let config), .exiting(_, let current, _)):
            answerRepeatedConfigure(config, current: current, requestID: requestID)
        case (.ok, .exiting(_, let config, _)) where requestID == Self.exitRequestID:
            Self.powerOff(volumes: config.volumes)
        case (.shutdown(let grace), _):
            port.send(.ok, requestID: requestID)
            stop(graceMilliseconds: grace)
        case (_, .awaitingConfiguration):
            port.send(.error("failed to handle \(message.type): the guest is not configured yet"), requestID: requestID)
        case (.exec(let request), _):
            execs.start(request, requestID: requestID, runner: server.runner, port: &port)
        case (.sessionStart, .exiting):
            port.send(.error("failed to start a session: the workload has exited"), requestID: requestID)
        case (.sessionStart, _), (.sessionInput, _), (.sessionCloseInput, _), (.sessionResize, _), (.sessionSignal, _),
            (.sessionClose, _), (.sessionWindow, _):
            sessions.handle(message, requestID: requestID, baseEnvironment: server.runner.baseEnvironment, port: &port)
        default:
            port.send(server.respond(to: message).reply, requestID: requestID)
        }
    }

    private mutating func configure(_ config: GuestConfig, requestID: UInt32) {
        do throws(AgentSystemError) {
            let (pid, environment) = try GuestSetup.apply(config)
            server.runner.baseEnvironment = environment
            phase = .running(Workload(pid: pid, config: config))
            port.send(.ok, requestID: requestID)
            port.send(
                .ready(AgentReady(agentVersion: AgentServer.version, bootClockNanoseconds: corral_agent_boottime_ns())),
                requestID: 0)
        } catch {
            Console.print("corral-agent: \(error)")
            port.send(.error(error.description), requestID: requestID)
            port.drain(milliseconds: 2000)
            Self.powerOff(volumes: config.volumes)
        }
    }

    private mutating func answerRepeatedConfigure(_ config: GuestConfig, current: GuestConfig, requestID: UInt32) {
        if config == current {
            port.send(.ok, requestID: requestID)
        } else {
            port.send(.error("failed to configure the guest: already configured differently"), requestID: requestID)
        }
    }

    private static func fail(_ message: String) -> Never {
        Console.print(message)
        powerOff(volumes: [])
    }

    /// Stops every process (SIGTERM, SIGKILL a second later), syncs, remounts the
    /// volumes and the root read-only and powers off. Never returns: PID 1 must
    /// not exit, or the kernel panics.
    static func powerOff(volumes: [GuestVolume]) -> Never {
        kill(-1, SIGTERM)
        reapAll(milliseconds: 1000)
        kill(-1, SIGKILL)
        reapAll(milliseconds: 1000)
        sync()
        for volume in volumes.reversed() { _ = corral_agent_remount_read_only(volume.mountPoint) }
        _ = corral_agent_remount_read_only("/")
        if corral_agent_power_off() != 0 {
            Console.print(AgentSystemError("power off", call: "reboot").description)
        }
        while true { pause() }
    }

    /// Reaps children until none is left or `milliseconds` have passed.
    private static func reapAll(milliseconds: Int64) {
        let deadline = monotonicMilliseconds() + milliseconds
        var status: Int32 = 0
        while monotonicMilliseconds() < deadline {
            let pid = waitpid(-1, &status, WNOHANG)
            if pid < 0, errno == ECHILD { return }
            if pid <= 0 { usleep(10_000) }
        }
    }
}
