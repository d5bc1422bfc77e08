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

extension ContainerDriver {
    /// How long crun may take to hand over the terminal of an interactive command.
    static let consoleTimeoutNanoseconds: UInt64 = 15_000_000_000

    /// Starts a command in the running container with `crun exec`, its streams
    /// attached to the returned session.
    ///
    /// The command runs as `exec` runs one (user, capabilities, seccomp, cgroups,
    /// namespaces, the container's environment plus `request.env`). With
    /// `request.terminal`, crun allocates a terminal inside the container and
    /// hands its master over `--console-socket` (SCM_RIGHTS); the session resizes
    /// it to the requested size at once. Without one, the command gets three pipes.
    /// Closing the session kills the command if it still runs.
    ///
    /// Fails with `invalidState` unless the container runs and is not suspended,
    /// `invalidArgument` for a malformed command, and `unavailable` when crun
    /// cannot be started or does not hand over a terminal in time. A command
    /// that cannot be found ends the session with a `failed` event.
    public func startExecSession(_ uuid: UUID, handle: DriverHandle, request: InteractiveExecRequest) async throws(CorralError)
        -> any ExecSession
    {
        let verb = "attach to a command in instance"
        try Self.validate(ExecRequest(command: request.command, env: request.env, workingDirectory: request.workingDirectory))
        let runtime = try runtime(verb, for: handle)
        let watcher = try supervisor.watcher(verb)
        guard HostProcess.isAlive(pid: handle.workloadPID, startTime: handle.workloadStartTime) else {
            throw .invalidState("failed to \(verb): it is not running")
        }
        if cgroup(uuid).isFrozen() { throw .invalidState("failed to \(verb): it is suspended") }
        let paths = paths(uuid)

        var process = try containerProcess(paths)
        process.args = request.command
        process.env = ImageRuntimeConfig(env: process.env).environment(overrides: request.env, defaults: [])
        if let directory = request.workingDirectory { process.cwd = directory }
        process.terminal = request.terminal != nil
        // runc sizes the terminal before the command runs; crun only right after it
        // started, so a command that asks for its size at its very first instruction
        // may see 0x0 there, and then gets SIGWINCH like on any resize. The session
        // sets the size again once the master arrives, before it is returned.
        process.consoleSize = request.terminal.map { OCIRuntimeSpec.ConsoleSize(height: $0.rows, width: $0.columns) }

        let id = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let processFile = paths.instance.file("exec-\(id).json")
        let files = RuntimeExecSession.Files(
            pidFile: paths.instance.file("exec-\(id).pid"), errorLog: paths.instance.file("exec-\(id).log"),
            cgroupPath: "/\(cgroup(uuid).relativePath)",
            removeAtEnd: [paths.instance.file("exec-\(id).pid"), paths.instance.file("exec-\(id).log"), processFile])
        var undo = SessionUndo(files: files.removeAtEnd)
        defer { undo.run() }
        do {
            try RawFile.writeAtomically(processFile, Array(try JSONEncoder().encode(process)), durable: false, mode: 0o600)
        } catch {
            throw CorralError(.internal, "failed to \(verb): cannot write \(processFile)", cause: error)
        }
        var arguments = ["exec", "--process=\(processFile)", "--pid-file=\(files.pidFile)"]

        let session: RuntimeExecSession
        if let size = request.terminal {
            let socket = try ConsoleSocket(preferredPath: paths.instance.file("exec-\(id).sock"))
            defer { socket.remove() }
            arguments.append("--console-socket=\(socket.path)")
            let command = runtime.command(arguments + [Self.containerID(uuid)], errorLog: files.errorLog)
            let started = try Self.startCrun(command, stdin: nil, stdout: nil, stderr: nil, verb: verb)
            undo.add { Self.abandon(started, files: files) }
            let master: Int32
            do {
                master = try await socket.receiveTerminal(
                    watcher: watcher, crunPidfd: started.pidfd,
                    deadline: HostProcess.monotonicNanoseconds() + Self.consoleTimeoutNanoseconds)
            } catch {
                let crunError = OCIRuntime.errors(inLog: files.errorLog).last
                throw crunError.map { Self.execFailure($0) } ?? error
            }
            _ = corral_terminal_set_size(master, size.columns, size.rows)
            let flags = fcntl(master, F_GETFL)
            _ = fcntl(master, F_SETFL, flags | O_NONBLOCK)
            session = try RuntimeExecSession(
                descriptors: .init(crunPID: started.pid, pidfd: started.pidfd, input: master, stdout: master, stderr: nil, terminal: true),
                files: files)
        } else {
            let pipes = try Self.makePipes(verb: verb)
            undo.add { for fd in [pipes.stdin.write, pipes.stdout.read, pipes.stderr.read] { close(fd) } }
            defer { for fd in [pipes.stdin.read, pipes.stdout.write, pipes.stderr.write] { close(fd) } }
            let command = runtime.command(arguments + [Self.containerID(uuid)], errorLog: files.errorLog)
            let started = try Self.startCrun(
                command, stdin: pipes.stdin.read, stdout: pipes.stdout.write, stderr: pipes.stderr.write, verb: verb)
            undo.add { Self.abandon(started, files: files) }
            for fd in [pipes.stdin.write, pipes.stdout.read, pipes.stderr.read] {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            }
            session = try RuntimeExecSession(
                descriptors: .init(
                    crunPID: started.pid, pidfd: started.pidfd, input: pipes.stdin.write, stdout: pipes.stdout.read,
                    stderr: pipes.stderr.read, terminal: false),
                files: files)
        }
        undo.cancel()
        return session
    }

    /// A started crun and its pidfd.
    struct StartedCrun {
        var pid: Int32
        var pidfd: Int32
    }

    /// Starts crun with the given standard descriptors (`/dev/null` for nil).
    private static func startCrun(
        _ command: HostCommand, stdin: Int32?, stdout: Int32?, stderr: Int32?, verb: String
    ) throws(CorralError) -> StartedCrun {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        if null < 0 { throw CorralError(.internal, "failed to \(verb)", cause: SystemCallError.last("open /dev/null")) }
        defer { close(null) }
        let pid = try command.start(stdin: stdin ?? null, stdout: stdout ?? null, stderr: stderr ?? null)
        guard let pidfd = HostProcess.openPidfd(childPID: pid) else {
            Glibc.kill(pid, SIGKILL)
            // Only on kernels without pidfd_open; a SIGKILLed child is reaped at once.
            _ = waitpid(pid, nil, 0)
            throw .unavailable("failed to \(verb): pidfd_open is unsupported")
        }
        return StartedCrun(pid: pid, pidfd: pidfd)
    }

    /// Kills and reaps a crun whose session never started.
    private static func abandon(_ started: StartedCrun, files: RuntimeExecSession.Files) {
        killExecProcess(pidFile: files.pidFile, cgroupPath: files.cgroupPath)
        Glibc.kill(started.pid, SIGKILL)
        var exited = [pollfd(fd: started.pidfd, events: Int16(POLLIN), revents: 0)]
        _ = poll(&exited, 1, 5000)
        HostProcess.reapIfChild(started.pid)
        close(started.pidfd)
    }

    private struct Pipes {
        var stdin: (read: Int32, write: Int32)
        var stdout: (read: Int32, write: Int32)
        var stderr: (read: Int32, write: Int32)
    }

    private static func makePipes(verb: String) throws(CorralError) -> Pipes {
        var made: [(read: Int32, write: Int32)] = []
        do {
            for _ in 0..<3 { made.append(try DetachedSpawn.makePipe()) }
        } catch {
            for pipe in made { close(pipe.read); close(pipe.write) }
            throw CorralError(.internal, "failed to \(verb)", cause: error)
        }
        return Pipes(stdin: made[0], stdout: made[1], stderr: made[2])
    }
}

/// What a failed `startExecSession` undoes, in reverse order.
private struct SessionUndo {
    private var steps: [() -> Void] = []
    private var files: [String]

    init(files: [String]) {
        self.files = files
    }

    mutating func add(_ step: @escaping () -> Void) {
        steps.append(step)
    }

    /// The session started and owns everything now.
    mutating func cancel() {
        steps = []
        files = []
    }

    func run() {
        for step in steps.reversed() { step() }
        for file in files { try? RawFile.remove(file) }
    }
}
