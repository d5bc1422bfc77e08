import CCorralSpawn
import CorralCore
import CorralShimFormat
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A helper program (an OCI runtime, a tool) run to completion by the daemon with
/// its output captured; every wait happens on a `DescriptorWatcher`, never on a
/// Swift thread.
public struct HostCommand: Sendable {
    /// Absolute path of the program.
    public var executable: String
    /// `argv[1...]`.
    public var arguments: [String]
    public var environment: [String]
    public var workingDirectory: String?
    /// When set, the program runs in a private mount namespace (host mount events
    /// propagate in, none out) in which these mount points are lazily unmounted.
    public var detachedMounts: [String]?
    /// Fed to the program's standard input; empty: `/dev/null`.
    public var stdin: [UInt8]
    /// Bytes kept of each of stdout and stderr; the rest is counted and dropped.
    public var outputLimit: Int

    public init(
        executable: String,
        arguments: [String],
        environment: [String] = ["PATH=\(ExecutableLookup.defaultSearchPath)"],
        workingDirectory: String? = nil,
        detachedMounts: [String]? = nil,
        stdin: [UInt8] = [],
        outputLimit: Int = 1 << 20
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.detachedMounts = detachedMounts
        self.stdin = stdin
        self.outputLimit = outputLimit
    }

    /// How the program ended and what it wrote.
    public struct Outcome: Sendable, Equatable {
        /// The exit code, when it called exit.
        public var exitCode: Int32?
        /// The signal that ended it, when one did.
        public var signal: Int32?
        public var stdout: [UInt8]
        public var stderr: [UInt8]
        /// Bytes written past `outputLimit` and dropped, both streams together.
        public var droppedBytes: Int
        /// The program was still running at the deadline and was killed.
        public var timedOut: Bool
        /// The watcher stopped (daemon shutdown) while the program ran; it was killed.
        public var interrupted: Bool

        /// stderr as text, trimmed, for error messages.
        public var errorText: String {
            String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// Runs the program until it exits or `deadline` (`CLOCK_MONOTONIC` nanoseconds)
    /// passes. At the deadline (or when the watcher stops) `onTimeout` is called
    /// with the program's pid (to end what it started elsewhere), the program is
    /// SIGKILLed and reaped, and the outcome says `timedOut` (or `interrupted`).
    /// Throws only when the program could not be started.
    public func run(
        watcher: DescriptorWatcher,
        deadline: UInt64,
        onTimeout: @Sendable (Int32) -> Void = { _ in }
    ) async throws(CorralError) -> Outcome {
        let pid: Int32
        let stdoutRead: Int32
        let stderrRead: Int32
        do {
            (pid, stdoutRead, stderrRead) = try spawn()
        } catch {
            throw CorralError(.unavailable, "failed to run \(executable)", cause: error)
        }
        guard let pidfd = HostProcess.openPidfd(childPID: pid) else {
            Glibc.kill(pid, SIGKILL)
            close(stdoutRead)
            close(stderrRead)
            _ = HostProcess.waitBlocking(pid)
            throw .unavailable("failed to run \(executable): pidfd_open is unsupported")
        }
        async let out = watcher.readAll(from: stdoutRead, limit: outputLimit, deadline: deadline)
        async let err = watcher.readAll(from: stderrRead, limit: outputLimit, deadline: deadline)
        let ending = await watcher.waitReadable(pidfd, deadline: deadline)
        if ending != .readable {
            onTimeout(pid)
            Glibc.kill(pid, SIGKILL)
            if let again = HostProcess.openPidfd(childPID: pid) {
                _ = await watcher.waitReadable(again, deadline: HostProcess.monotonicNanoseconds() + 5_000_000_000)
            }
        }
        let status = HostProcess.reapIfChild(pid)
        if status == nil { Self.reapWhenExited(pid, watcher: watcher) }
        let (stdout, stderr) = await (out, err)
        let signal = status.map { $0 & 0x7f }
        return Outcome(
            exitCode: status.flatMap { $0 & 0x7f == 0 ? ($0 >> 8) & 0xff : nil },
            signal: signal.flatMap { $0 != 0 ? $0 : nil },
            stdout: stdout.bytes,
            stderr: stderr.bytes,
            droppedBytes: stdout.dropped + stderr.dropped,
            timedOut: ending == .timedOut,
            interrupted: ending == .stopped
        )
    }

    /// Reaps a killed child that has not exited yet (stuck in the kernel) once it
    /// does, from the watcher thread, so no Swift thread waits for it.
    private static func reapWhenExited(_ pid: Int32, watcher: DescriptorWatcher) {
        guard let pidfd = HostProcess.openPidfd(childPID: pid) else { return }
        do {
            try watcher.watch(pidfd) { _, _ in
                HostProcess.reapIfChild(pid)
                return .done
            }
        } catch {
            close(pidfd)
        }
    }

    /// Forks and execs the program with its stdout and stderr on fresh pipes.
    /// Returns the pid and the read ends.
    private func spawn() throws(SystemCallError) -> (Int32, Int32, Int32) {
        let stdoutPipe = try DetachedSpawn.makePipe()
        let stderrPipe: (read: Int32, write: Int32)
        do {
            stderrPipe = try DetachedSpawn.makePipe()
        } catch {
            close(stdoutPipe.read)
            close(stdoutPipe.write)
            throw error
        }
        let input = stdin.isEmpty
            ? open("/dev/null", O_RDONLY | O_CLOEXEC)
            : stdin.withUnsafeBytes { corral_memfd_with($0.baseAddress, $0.count) }
        let inputError = input < 0 ? SystemCallError.last(stdin.isEmpty ? "open /dev/null" : "memfd_create") : nil
        defer {
            close(stdoutPipe.write)
            close(stderrPipe.write)
            if input >= 0 { close(input) }
        }
        if let inputError {
            close(stdoutPipe.read)
            close(stderrPipe.read)
            throw inputError
        }

        let pid: Int32
        do {
            pid = try spawnProcess(stdin: input, stdout: stdoutPipe.write, stderr: stderrPipe.write)
        } catch {
            close(stdoutPipe.read)
            close(stderrPipe.read)
            throw error
        }
        return (pid, stdoutPipe.read, stderrPipe.read)
    }

    /// Forks and execs the program with `stdin`, `stdout` and `stderr` as its
    /// standard descriptors (the caller keeps its copies); returns its pid.
    func spawnProcess(stdin: Int32, stdout: Int32, stderr: Int32) throws(SystemCallError) -> Int32 {
        var result = corral_spawn_result()
        let detach = detachedMounts ?? []
        let rc = DetachedSpawn.withCStrings([executable] + arguments) { argv in
            DetachedSpawn.withCStrings(environment) { envp in
                DetachedSpawn.withCStrings(detach) { detached in
                    withOptionalCString(workingDirectory) { cwd in
                        var options = corral_spawn_options()
                        options.path = argv?.pointee.map { UnsafePointer($0) }
                        options.argv = argv
                        options.envp = envp
                        options.cwd = cwd
                        options.cgroup2_fd = -1
                        options.cgroup_join_fds = nil
                        options.cgroup_join_count = 0
                        options.stdin_fd = stdin
                        options.stdout_fd = stdout
                        options.stderr_fd = stderr
                        options.new_session = 1
                        options.private_mounts = detachedMounts == nil ? 0 : 1
                        options.detach_mounts = detached
                        options.detach_mount_count = Int32(detach.count)
                        return corral_spawn_with(&options, &result)
                    }
                }
            }
        }
        if rc != 0 {
            let call = result.stage == Int32(CORRAL_SPAWN_STAGE_MOUNTS.rawValue) ? "private mount namespace" : "exec"
            throw SystemCallError(call, path: executable, errno: result.error)
        }
        return result.pid
    }

    private func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let string else { return body(nil) }
        return string.withCString { body($0) }
    }
}
