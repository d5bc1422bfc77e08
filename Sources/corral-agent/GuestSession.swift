import CCorralSpawn
import CorralAgentProtocol
import Glibc

/// One interactive command of the host: its process and the agent's ends of its
/// terminal (one descriptor for input and output) or of its three pipes.
///
/// Everything is non-blocking; `GuestSessions` drives it from the poll loop.
struct GuestSession {
    /// Bytes the host sent that the command has not taken yet, and the request to
    /// answer `ok` once it has (0: nothing to answer).
    struct PendingInput {
        var bytes: [UInt8]
        var written = 0
        var requestID: UInt32
    }

    let id: UInt32
    let pid: pid_t
    let terminal: Bool
    /// The terminal master or the write end of the stdin pipe; -1 once closed.
    var input: Int32
    /// The terminal master or the read end of stdout; -1 once at end of file.
    var stdout: Int32
    /// The read end of stderr; -1 with a terminal or once at end of file.
    var stderr: Int32
    var pendingInput: [PendingInput] = []
    /// Input ends once `pendingInput` is written.
    var inputClosing = false
    /// Output bytes the host still lets the agent send.
    var window = Int(AgentSession.initialWindow)
    var termination: ProcessTermination?
    /// After the command's exit: when to stop waiting for the rest of its output
    /// (something it started may keep the terminal or a pipe open).
    var drainDeadline: Int64?
    /// Whether the host held the output back at the last check after the exit.
    var drainHeldBack = false

    /// Starts `request` with `environment` (already merged). Throws when the
    /// command cannot be started; nothing is left open then.
    static func start(_ request: SessionStartRequest, environment: [String]) throws(AgentSystemError) -> GuestSession {
        let name = request.argv[0]
        let action = "start \(name)"
        guard let path = CommandRunner.resolve(name, environment: environment) else {
            throw AgentSystemError(action, call: "execve", path: name, errno: ENOENT)
        }
        if let size = request.terminal {
            var master: Int32 = -1
            var slave: Int32 = -1
            if corral_agent_open_terminal(&master, &slave, size.columns, size.rows) != 0 {
                throw AgentSystemError(action, call: "posix_openpt")
            }
            defer { close(slave) }
            do {
                let pid = try spawn(path: path, request: request, environment: environment, stdio: (slave, slave, slave), terminal: true)
                return GuestSession(id: request.session, pid: pid, terminal: true, input: master, stdout: master, stderr: -1)
            } catch {
                close(master)
                throw error
            }
        }
        var made: [(read: Int32, write: Int32)] = []
        for _ in 0..<3 {
            var fds: [Int32] = [-1, -1]
            if corral_pipe_cloexec(&fds) != 0 {
                let error = AgentSystemError(action, call: "pipe2")
                for pipe in made { close(pipe.read); close(pipe.write) }
                throw error
            }
            made.append((fds[0], fds[1]))
        }
        defer { close(made[0].read); close(made[1].write); close(made[2].write) }
        do {
            let pid = try spawn(
                path: path, request: request, environment: environment,
                stdio: (made[0].read, made[1].write, made[2].write), terminal: false)
            for fd in [made[0].write, made[1].read, made[2].read] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
            return GuestSession(
                id: request.session, pid: pid, terminal: false, input: made[0].write, stdout: made[1].read, stderr: made[2].read)
        } catch {
            close(made[0].write); close(made[1].read); close(made[2].read)
            throw error
        }
    }

    private static func spawn(
        path: String, request: SessionStartRequest, environment: [String], stdio: (Int32, Int32, Int32), terminal: Bool
    ) throws(AgentSystemError) -> pid_t {
        let cArgv = request.argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in cArgv { free(pointer) }
            for pointer in cEnv { free(pointer) }
        }
        var result = corral_agent_spawn_result()
        let status = path.withCString { cPath in
            EarlyBoot.withOptionalCString(request.workingDirectory) { cwd in
                cArgv.withUnsafeBufferPointer { argv in
                    cEnv.withUnsafeBufferPointer { envp in
                        var options = corral_agent_spawn_options()
                        options.path = cPath
                        options.argv = argv.baseAddress
                        options.envp = envp.baseAddress
                        options.cwd = cwd
                        options.stdin_fd = stdio.0
                        options.stdout_fd = stdio.1
                        options.stderr_fd = stdio.2
                        options.controlling_terminal = terminal ? 1 : 0
                        return corral_agent_spawn(&options, &result)
                    }
                }
            }
        }
        guard status == 0 else {
            throw AgentSystemError.spawn(
                "start \(request.argv[0])", result, path: path, workingDirectory: request.workingDirectory)
        }
        return result.pid
    }

    /// Whether the session is over: the command was reaped and its output read
    /// to the end, or the drain time is up.
    func isFinished(now: Int64) -> Bool {
        guard termination != nil else { return false }
        if stdout < 0 && stderr < 0 { return true }
        return drainDeadline.map { now >= $0 } ?? false
    }

    /// Writes pending input until the command stops taking it. Returns the
    /// request ids whose bytes are now all written, and whether writing failed
    /// for good (the command's end of the input is gone).
    mutating func writeInput() -> (completed: [UInt32], failed: Bool) {
        var completed: [UInt32] = []
        while input >= 0, var first = pendingInput.first {
            while first.written < first.bytes.count {
                let count = first.bytes.withUnsafeBytes {
                    write(input, $0.baseAddress.map { $0 + first.written }, $0.count - first.written)
                }
                if count < 0, errno == EINTR { continue }
                if count < 0, errno == EAGAIN {
                    pendingInput[0] = first
                    return (completed, false)
                }
                if count <= 0 { return (completed, true) }
                first.written += count
            }
            pendingInput.removeFirst()
            if first.requestID != 0 { completed.append(first.requestID) }
        }
        if pendingInput.isEmpty, inputClosing, !terminal, input >= 0 {
            close(input)
            input = -1
        }
        return (completed, false)
    }

    /// Reads one chunk of `stream` (1 or 2) within the window. Returns the bytes
    /// (empty when nothing was there), closing the stream at its end.
    mutating func readOutput(_ stream: UInt8) -> [UInt8] {
        let fd = stream == 1 ? stdout : stderr
        guard fd >= 0, window > 0 else { return [] }
        var chunk = [UInt8](repeating: 0, count: min(AgentSession.outputChunk, window))
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count < 0, errno == EAGAIN { return [] }
            if count <= 0 {
                // End of file, or EIO from a terminal master whose every slave is closed.
                closeOutput(stream)
                return []
            }
            window -= count
            return Array(chunk[0..<count])
        }
    }

    private mutating func closeOutput(_ stream: UInt8) {
        if stream == 1 {
            if stdout >= 0, stdout != input { close(stdout) }
            stdout = -1
        } else {
            if stderr >= 0 { close(stderr) }
            stderr = -1
        }
    }

    /// Closes every descriptor still open.
    mutating func closeAll() {
        if input >= 0 { close(input) }
        if stdout >= 0, stdout != input { close(stdout) }
        if stderr >= 0 { close(stderr) }
        input = -1
        stdout = -1
        stderr = -1
    }
}
