import CCorralSpawn
import CorralAgentProtocol
import Glibc

/// `corral-agent init`: PID 1 of a microVM.
///
/// Mounts the pseudo file systems, starts the workload from its `WorkloadSpec`,
/// serves the host channel, reaps every orphan, forwards SIGTERM/SIGINT to the
/// workload and, once the workload has exited, reports `workloadExited` and powers
/// the machine off. Refuses to do anything unless it is PID 1: mounting and
/// powering off are only ever done to the machine the agent is init of.
struct InitSupervisor {
    /// The virtio-serial port name the host gives the agent channel.
    static let portName = "corral.agent"

    private var channel: AgentChannel?
    private let server = AgentServer()
    private var workload: pid_t = -1
    private var killDeadline: UInt64?

    static func main() -> Int32 {
        guard getpid() == 1 else {
            printError("corral-agent init: refusing to run: not PID 1 (pid \(getpid()))")
            return 2
        }
        var supervisor = InitSupervisor()
        supervisor.run()
    }

    private mutating func run() -> Never {
        Self.mountPseudoFileSystems()
        _ = setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1)
        if let path = Self.channelPath() {
            let fd = open(path, O_RDWR | O_CLOEXEC)
            if fd >= 0 { channel = AgentChannel(fd: fd) } else { Self.printError("corral-agent: cannot open \(path)") }
        } else {
            Self.printError("corral-agent: no virtio-serial port named \(Self.portName); serving no host")
        }
        let signals: [Int32] = [SIGCHLD, SIGTERM, SIGINT, SIGPWR]
        let signalFD = signals.withUnsafeBufferPointer { corral_agent_signalfd($0.baseAddress, Int32($0.count)) }
        if signalFD < 0 { Self.printError(AgentSystemError("watch signals", call: "signalfd").description) }
        do throws(AgentSystemError) {
            let spec = try Self.loadSpec()
            workload = try Self.start(spec)
        } catch {
            Self.printError("corral-agent: \(error)")
            finish(.exited(127))
        }
        send(.ready(AgentReady(agentVersion: AgentServer.version, bootClockNanoseconds: corral_agent_boottime_ns())))
        while true {
            var fds = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)]
            if let channel { fds.append(pollfd(fd: channel.fd, events: Int16(POLLIN), revents: 0)) }
            var wait: Int32 = -1
            if let killDeadline {
                let now = corral_monotonic_ns()
                wait = killDeadline > now ? Int32((killDeadline - now) / 1_000_000) + 1 : 0
            }
            _ = poll(&fds, nfds_t(fds.count), wait)
            if let killDeadline, corral_monotonic_ns() >= killDeadline {
                kill(workload, SIGKILL)
                self.killDeadline = nil
            }
            handleSignals(signalFD)
            if fds.count > 1, fds[1].revents != 0 { serveChannel() }
        }
    }

    private mutating func handleSignals(_ fd: Int32) {
        while true {
            let signal = corral_agent_read_signal(fd)
            if signal <= 0 { break }
            switch signal {
            case SIGCHLD: reapChildren()
            case SIGPWR: stopWorkload(graceMilliseconds: 10_000)
            default: if workload > 0 { kill(workload, signal) }
            }
        }
        // A SIGCHLD may have been merged with one consumed while an exec ran.
        reapChildren()
    }

    private mutating func reapChildren() {
        var status: Int32 = 0
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            if pid < 0, errno == EINTR { continue }
            if pid <= 0 { return }
            if pid == workload {
                let signal = status & 0x7F
                finish(signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal))
            }
        }
    }

    private mutating func serveChannel() {
        guard var current = channel else { return }
        do throws(AgentSystemError) {
            if try current.receive() {
                if let grace = try server.serveBuffered(&current) { stopWorkload(graceMilliseconds: grace) }
                channel = current
                return
            }
        } catch {
            Self.printError("corral-agent: \(error)")
        }
        // The host went away; keep running the workload without it.
        close(current.fd)
        channel = nil
    }

    private mutating func stopWorkload(graceMilliseconds: UInt32) {
        guard workload > 0 else { finish(.exited(0)) }
        kill(workload, SIGTERM)
        killDeadline = corral_monotonic_ns() + UInt64(graceMilliseconds) * 1_000_000
    }

    /// Reports how the workload ended, stops what is left and powers off.
    private func finish(_ termination: ProcessTermination) -> Never {
        send(.workloadExited(termination))
        kill(-1, SIGTERM)
        usleep(200_000)
        kill(-1, SIGKILL)
        if corral_agent_power_off() != 0 {
            Self.printError(AgentSystemError("power off", call: "reboot").description)
        }
        // PID 1 must not exit: the kernel would panic.
        while true { pause() }
    }

    private func send(_ message: AgentMessage) {
        guard let channel else { return }
        do throws(AgentSystemError) {
            try channel.send(message, requestID: 0)
        } catch {
            Self.printError("corral-agent: \(error)")
        }
    }

    /// Mounts /proc, /sys, /dev, /dev/pts and /run; one that is already mounted or
    /// fails is reported and skipped.
    private static func mountPseudoFileSystems() {
        let mounts: [(source: String, target: String, type: String, flags: UInt, data: String?)] = [
            ("proc", "/proc", "proc", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), nil),
            ("sysfs", "/sys", "sysfs", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), nil),
            ("devtmpfs", "/dev", "devtmpfs", UInt(MS_NOSUID), "mode=0755"),
            ("devpts", "/dev/pts", "devpts", UInt(MS_NOSUID | MS_NOEXEC), "gid=5,mode=0620,ptmxmode=0666"),
            ("tmpfs", "/run", "tmpfs", UInt(MS_NOSUID | MS_NODEV), "mode=0755"),
        ]
        for entry in mounts {
            _ = mkdir(entry.target, 0o755)
            let status = withOptionalCString(entry.data) { data in
                corral_agent_mount(entry.source, entry.target, entry.type, entry.flags, data)
            }
            if status != 0, errno != EBUSY {
                printError(AgentSystemError("mount \(entry.type)", call: "mount", path: entry.target).description)
            }
        }
    }

    private static func loadSpec() throws(AgentSystemError) -> WorkloadSpec {
        let cmdline = try GuestFiles.read(path: "/proc/cmdline", limit: 1 << 20)
        let source: WorkloadSpec.Source
        do throws(AgentProtocolError) {
            source = try WorkloadSpec.source(kernelCommandLine: String(decoding: cmdline, as: UTF8.self))
        } catch {
            printError("corral-agent: \(error)")
            throw AgentSystemError("load the workload spec", call: "parse", path: "/proc/cmdline", errno: EINVAL)
        }
        guard case .file(let path) = source else {
            if case .inline(let spec) = source { return spec }
            throw AgentSystemError("load the workload spec", call: "parse", errno: EINVAL)
        }
        let encoded = try GuestFiles.read(path: path, limit: 1 << 20)
        do throws(AgentProtocolError) {
            return try WorkloadSpec(encoded: encoded)
        } catch {
            printError("corral-agent: \(error)")
            throw AgentSystemError("load the workload spec", call: "parse", path: path, errno: EINVAL)
        }
    }

    /// Starts the workload on the agent's own stdio (the console) in its own session.
    private static func start(_ spec: WorkloadSpec) throws(AgentSystemError) -> pid_t {
        let environment = CommandRunner.merge(CommandRunner.defaultEnvironment, spec.environment)
        guard let name = spec.argv.first,
            let path = CommandRunner.resolve(name, environment: environment)
        else { throw AgentSystemError("start the workload", call: "execve", path: spec.argv.first, errno: ENOENT) }
        switch CommandRunner.spawn(
            path: path, argv: spec.argv, environment: environment, cwd: spec.workingDirectory, stdio: (0, 1, 2))
        {
        case .success(let pid): return pid
        case .failure(let result):
            throw AgentSystemError("start the workload", call: "spawn", path: path, errno: result.error)
        }
    }

    /// `/dev/<port>` of the virtio-serial port named `portName`, found through sysfs
    /// because no udev creates `/dev/virtio-ports/` links in the guest.
    private static func channelPath() -> String? {
        guard let directory = opendir("/sys/class/virtio-ports") else { return nil }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let port = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if port.hasPrefix(".") { continue }
            guard let name = try? GuestFiles.read(path: "/sys/class/virtio-ports/\(port)/name", limit: 4096) else {
                continue
            }
            if String(decoding: name, as: UTF8.self).split(separator: "\n").first == Substring(portName) {
                return "/dev/\(port)"
            }
        }
        return nil
    }

    static func printError(_ message: String) {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    private static func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let text else { return body(nil) }
        return text.withCString { body($0) }
    }
}
