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
    /// Runs a command in the running container with `crun exec` and returns its
    /// exit code and output once it has exited.
    ///
    /// The command runs as the container's process does (user, capabilities,
    /// seccomp, cgroups, namespaces), with the container's environment plus
    /// `request.env` (which wins), in `request.workingDirectory` or the container's
    /// working directory, `request.stdin` as its standard input. A command killed by
    /// a signal exits with 128 + the signal, as in a shell. Each output stream keeps
    /// its first `execOutputLimit` bytes.
    ///
    /// Fails with `invalidState` unless the container runs and is not suspended,
    /// `invalidArgument` when the command cannot be found or executed, and `timeout`
    /// when it is still running after `request.timeout` (it is then killed).
    public func exec(_ uuid: UUID, handle: DriverHandle, request: ExecRequest) async throws(CorralError) -> ExecResult {
        try Self.validate(request)
        let runtime = try runtime("exec in instance", for: handle)
        let watcher = try supervisor.watcher("exec in")
        guard HostProcess.isAlive(pid: handle.workloadPID, startTime: handle.workloadStartTime) else {
            throw .invalidState("failed to exec in instance: it is not running")
        }
        if cgroup(uuid).isFrozen() { throw .invalidState("failed to exec in instance: it is suspended") }
        let paths = paths(uuid)

        var process = try containerProcess(paths)
        process.args = request.command
        process.env = ImageRuntimeConfig(env: process.env).environment(overrides: request.env, defaults: [])
        if let directory = request.workingDirectory { process.cwd = directory }
        process.terminal = false

        let id = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let processFile = paths.instance.file("exec-\(id).json")
        let pidFile = paths.instance.file("exec-\(id).pid")
        let errorLog = paths.instance.file("exec-\(id).log")
        defer { for file in [processFile, pidFile, errorLog] { try? RawFile.remove(file) } }
        do {
            try RawFile.writeAtomically(processFile, Array(try JSONEncoder().encode(process)), durable: false, mode: 0o600)
        } catch {
            throw CorralError(.internal, "failed to exec in instance: cannot write \(processFile)", cause: error)
        }

        let command = runtime.command(
            ["exec", "--process=\(processFile)", "--pid-file=\(pidFile)", Self.containerID(uuid)],
            errorLog: errorLog, stdin: request.stdin, outputLimit: Self.execOutputLimit
        )
        let cgroupPath = "/\(cgroup(uuid).relativePath)"
        let outcome = try await command.run(
            watcher: watcher, deadline: HostProcess.monotonicNanoseconds() + Self.nanoseconds(request.timeout)
        ) { _ in
            Self.killExecProcess(pidFile: pidFile, cgroupPath: cgroupPath)
        }
        if outcome.interrupted {
            throw .unavailable("failed to exec in instance: the container driver is shutting down")
        }
        if outcome.timedOut {
            throw .timeout("failed to exec in instance: '\(request.command[0])' did not finish within \(request.timeout)")
        }
        let exitCode = outcome.exitCode ?? 128 + (outcome.signal ?? 0)
        if exitCode != 0, let error = OCIRuntime.errors(inLog: errorLog).last {
            throw Self.execFailure(error)
        }
        return ExecResult(exitCode: exitCode, stdout: outcome.stdout, stderr: outcome.stderr)
    }

    /// The process template of the running container: its `config.json` process.
    func containerProcess(_ paths: ContainerPaths) throws(CorralError) -> OCIRuntimeSpec.Process {
        guard let bytes = try? RawFile.read(paths.config, limit: 4 << 20) else {
            throw .invalidState("failed to exec in instance: its bundle is gone (\(paths.config))")
        }
        do {
            return try JSONDecoder().decode(OCIRuntimeSpec.self, from: Data(bytes)).process
        } catch {
            throw CorralError(.internal, "failed to exec in instance: cannot read \(paths.config)", cause: error)
        }
    }

    static func validate(_ request: ExecRequest) throws(CorralError) {
        guard let first = request.command.first, !first.isEmpty else {
            throw .invalidArgument("invalid command: must name a program to run")
        }
        for argument in request.command where argument.utf8.contains(0) {
            throw .invalidArgument("invalid command: an argument contains NUL")
        }
        for (key, value) in request.env {
            guard !key.isEmpty, !key.contains("="), !key.utf8.contains(0), !value.utf8.contains(0) else {
                throw .invalidArgument("invalid env key '\(key)': must be non-empty without '=' or NUL")
            }
        }
        if let directory = request.workingDirectory, !directory.hasPrefix("/") || directory.utf8.contains(0) {
            throw .invalidArgument("invalid cwd '\(directory)': must be an absolute path")
        }
        guard request.timeout > .zero else { throw .invalidArgument("invalid timeout: must be positive") }
    }

    /// Maps crun's own error for an exec that did not run.
    static func execFailure(_ message: String) -> CorralError {
        let lowered = message.lowercased()
        if lowered.contains("executable file") || lowered.contains("not found in $path") || lowered.contains("permission denied")
            || lowered.contains("no such file") {
            return .invalidArgument("failed to exec in instance: \(message)")
        }
        if lowered.contains("not running") || lowered.contains("does not exist") {
            return .invalidState("failed to exec in instance: \(message)")
        }
        return .internal("failed to exec in instance: crun: \(message)")
    }

    /// SIGKILLs the process `crun exec` started, named in its pid file, if it is
    /// still in the container's cgroup (so a reused pid is never hit).
    static func killExecProcess(pidFile: String, cgroupPath: String) {
        signalExecProcess(pidFile: pidFile, cgroupPath: cgroupPath, SIGKILL)
    }

    /// Sends `signal` to the process `crun exec` started, named in its pid file,
    /// if it is still in the container's cgroup; whether it was sent.
    @discardableResult
    static func signalExecProcess(pidFile: String, cgroupPath: String, _ signal: Int32) -> Bool {
        guard let bytes = try? RawFile.read(pidFile, limit: 64),
              let pid = Int32(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
              let start = HostProcess.startTime(of: pid),
              let pidfd = HostProcess.openPidfd(pid: pid, startTime: start)
        else { return false }
        defer { close(pidfd) }
        let cgroups = (try? FileSystem.readText("/proc/\(pid)/cgroup")) ?? ""
        guard cgroups.split(separator: "\n").contains(where: { $0.hasSuffix(":\(cgroupPath)") }) else { return false }
        return HostProcess.signal(pid: pid, startTime: start, signal)
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        let whole = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if whole.overflow { return UInt64.max / 2 }
        return whole.partialValue + UInt64(max(attoseconds, 0) / 1_000_000_000)
    }
}
