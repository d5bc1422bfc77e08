import CCorralSpawn
import CorralAgentProtocol
import Glibc

/// Runs one-shot commands with captured output.
///
/// The command leads its own session and process group; a timeout SIGKILLs the
/// whole group. Its stdin receives the request's bytes and is then closed. Each
/// of stdout and stderr keeps at most `outputLimit` bytes; the rest is read and
/// discarded so the command never blocks on a full pipe. `run` blocks until the
/// command has exited and been reaped; `start` hands back the running command
/// for a poll loop to drive (see `GuestExecs`).
struct CommandRunner {
    static let defaultEnvironment = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TERM=linux",
    ]

    var outputLimit = 7 << 20
    /// What each command's environment starts from, before the request's entries.
    var baseEnvironment = defaultEnvironment

    func run(_ request: ExecRequest) throws(AgentSystemError) -> ExecResult {
        var command = try start(request)
        return command.run()
    }

    /// Starts `request`'s command; throws when it cannot be started (nothing is
    /// left open then).
    func start(_ request: ExecRequest) throws(AgentSystemError) -> RunningCommand {
        let environment = Self.merge(baseEnvironment, request.environment)
        guard let name = request.argv.first else { throw AgentSystemError("exec", call: "execve", errno: EINVAL) }
        let action = "exec \(name)"
        guard let path = Self.resolve(name, environment: environment) else {
            throw AgentSystemError(action, call: "execve", path: name, errno: ENOENT)
        }
        let stdin = try Self.pipe(action)
        let stdout: (read: Int32, write: Int32)
        let stderr: (read: Int32, write: Int32)
        do {
            stdout = try Self.pipe(action)
        } catch {
            close(stdin.read); close(stdin.write)
            throw error
        }
        do {
            stderr = try Self.pipe(action)
        } catch {
            close(stdin.read); close(stdin.write); close(stdout.read); close(stdout.write)
            throw error
        }
        let spawned = Self.spawn(
            path: path, argv: request.argv, environment: environment, cwd: request.workingDirectory,
            stdio: (stdin.read, stdout.write, stderr.write))
        close(stdin.read)
        close(stdout.write)
        close(stderr.write)
        let pid: pid_t
        switch spawned {
        case .success(let child):
            pid = child
        case .failure(let result):
            close(stdin.write); close(stdout.read); close(stderr.read)
            throw AgentSystemError(action, call: Self.stageName(result.stage), path: path, errno: result.error)
        }
        return RunningCommand(
            pid: pid, stdin: stdin.write, stdout: stdout.read, stderr: stderr.read, input: request.stdin,
            limit: outputLimit,
            deadline: request.timeoutMilliseconds.map { corral_monotonic_ns() + UInt64($0) * 1_000_000 })
    }

    /// `base` with each `KEY=value` of `overrides` replacing the entry of the same key.
    static func merge(_ base: [String], _ overrides: [String]) -> [String] {
        var result = base
        for entry in overrides {
            let key = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            result.removeAll { $0.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first == key }
            result.append(entry)
        }
        return result
    }

    /// `name` itself when it holds a `/`, else the first executable of that name in `PATH`.
    static func resolve(_ name: String, environment: [String]) -> String? {
        if name.contains("/") { return name }
        let path = environment.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? ""
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    private static func pipe(_ action: String) throws(AgentSystemError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        if corral_pipe_cloexec(&fds) != 0 { throw AgentSystemError(action, call: "pipe2") }
        return (fds[0], fds[1])
    }

    private static func stageName(_ stage: Int32) -> String {
        switch stage {
        case 1: "pipe2"
        case 2: "fork"
        case 5: "dup2"
        case 6: "chdir"
        case 7: "execve"
        default: "spawn"
        }
    }

    static func spawn(
        path: String, argv: [String], environment: [String], cwd: String?, stdio: (Int32, Int32, Int32)
    ) -> Result<pid_t, corral_spawn_result> {
        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in cArgv { free(pointer) }
            for pointer in cEnv { free(pointer) }
        }
        var result = corral_spawn_result()
        let status = path.withCString { cPath in
            withOptionalCString(cwd) { cCwd in
                cArgv.withUnsafeBufferPointer { argvBuffer in
                    cEnv.withUnsafeBufferPointer { envBuffer in
                        var options = corral_spawn_options()
                        options.path = cPath
                        options.argv = argvBuffer.baseAddress
                        options.envp = envBuffer.baseAddress
                        options.cwd = cCwd
                        options.cgroup2_fd = -1
                        options.stdin_fd = stdio.0
                        options.stdout_fd = stdio.1
                        options.stderr_fd = stdio.2
                        options.new_session = 1
                        return corral_spawn_with(&options, &result)
                    }
                }
            }
        }
        return status == 0 ? .success(result.pid) : .failure(result)
    }

    private static func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let text else { return body(nil) }
        return text.withCString { body($0) }
    }
}

extension corral_spawn_result: @retroactive Error {}

/// The parent's side of one running command: driven to its end at once (`run`)
/// or a step at a time by a poll loop that reaps it (`watches`, `ready`,
/// `enforceDeadline`, `finish`).
struct RunningCommand {
    let pid: pid_t
    private var stdin: Int32
    private var stdout: Int32
    private var stderr: Int32
    private let input: [UInt8]
    private let limit: Int
    /// When to SIGKILL the command's group (`CLOCK_MONOTONIC` nanoseconds).
    let deadline: UInt64?
    private var written = 0
    private var output: [UInt8] = []
    private var errors: [UInt8] = []
    private var truncated = false
    private(set) var timedOut = false

    init(pid: pid_t, stdin: Int32, stdout: Int32, stderr: Int32, input: [UInt8], limit: Int, deadline: UInt64?) {
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
        self.input = input
        self.limit = limit
        self.deadline = deadline
        for fd in [stdin, stdout, stderr] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        if input.isEmpty { closeStdin() }
    }

    /// Drives the command to its end, reaping it itself: for a caller with
    /// nothing else to do (`corral-agent serve`).
    mutating func run() -> ExecResult {
        var termination: ProcessTermination?
        while true {
            termination = reap()
            if termination != nil { break }
            enforceDeadline(now: corral_monotonic_ns())
            var fds = watches
            // Pipes open: the command's exit shows up as a hang-up. Pipes closed: poll
            // the exit status at a short interval.
            var wait: Int32 = fds.isEmpty ? 5 : 100
            if let deadline, !timedOut {
                let now = corral_monotonic_ns()
                wait = min(wait, Int32(deadline > now ? (deadline - now) / 1_000_000 : 0) + 1)
            }
            if poll(&fds, nfds_t(fds.count), wait) <= 0 { continue }
            for entry in fds where entry.revents != 0 { ready(entry.fd) }
        }
        return finish(termination ?? .signaled(SIGKILL))
    }

    /// The descriptors to poll: stdin while input is left, stdout and stderr until their end.
    var watches: [pollfd] {
        var fds: [pollfd] = []
        if stdin >= 0 { fds.append(pollfd(fd: stdin, events: Int16(POLLOUT), revents: 0)) }
        if stdout >= 0 { fds.append(pollfd(fd: stdout, events: Int16(POLLIN), revents: 0)) }
        if stderr >= 0 { fds.append(pollfd(fd: stderr, events: Int16(POLLIN), revents: 0)) }
        return fds
    }

    /// Acts on a descriptor of `watches` that poll reported.
    mutating func ready(_ fd: Int32) {
        if fd == stdin { feedStdin() }
        if fd == stdout { Self.drain(&stdout, into: &output, limit: limit, truncated: &truncated) }
        if fd == stderr { Self.drain(&stderr, into: &errors, limit: limit, truncated: &truncated) }
    }

    /// SIGKILLs the command's group once its deadline has passed.
    mutating func enforceDeadline(now: UInt64) {
        guard let deadline, !timedOut, now >= deadline else { return }
        // The group first, so children the command started die with it.
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        timedOut = true
    }

    /// After the command was reaped: takes what it wrote before exiting (already
    /// in the pipes), closes everything and returns the result.
    mutating func finish(_ termination: ProcessTermination) -> ExecResult {
        Self.drain(&stdout, into: &output, limit: limit, truncated: &truncated)
        Self.drain(&stderr, into: &errors, limit: limit, truncated: &truncated)
        closeAll()
        return ExecResult(
            termination: termination, timedOut: timedOut, stdout: output, stderr: errors, outputTruncated: truncated)
    }

    /// Kills the command's group and closes everything: nobody waits for the
    /// result any more. Whoever reaps children reaps it.
    mutating func abandon() {
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        closeAll()
    }

    private mutating func closeAll() {
        closeStdin()
        if stdout >= 0 { close(stdout) }
        if stderr >= 0 { close(stderr) }
        stdout = -1
        stderr = -1
    }

    private func reap() -> ProcessTermination? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result < 0, errno == EINTR { continue }
            if result != pid { return nil }
            let signal = status & 0x7F
            return signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal)
        }
    }

    private mutating func closeStdin() {
        if stdin >= 0 {
            close(stdin)
            stdin = -1
        }
    }

    private mutating func feedStdin() {
        while written < input.count {
            let count = input.withUnsafeBytes { write(stdin, $0.baseAddress.map { $0 + written }, $0.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { return }
                break  // EPIPE: the command stopped reading.
            }
            written += count
        }
        closeStdin()
    }

    private static func drain(_ fd: inout Int32, into buffer: inout [UInt8], limit: Int, truncated: inout Bool) {
        guard fd >= 0 else { return }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { return }
            }
            if count <= 0 {
                close(fd)
                fd = -1
                return
            }
            let room = max(limit - buffer.count, 0)
            if count > room { truncated = true }
            buffer.append(contentsOf: chunk[0..<min(count, room)])
        }
    }
}
