import CCorralSpawn
import CorralCore
import CorralShimFormat
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension HostCommand {
    /// Starts the program with its standard output on a pipe the caller reads
    /// as it goes (`StreamingHostCommand.read`), its standard error kept in an
    /// anonymous memory file (so a chatty program never blocks on it), and
    /// `stdin` (or `/dev/null`) as its input. `outputLimit` does not apply.
    ///
    /// - Throws: `unavailable` when the program cannot be started.
    public func startStreaming() throws(CorralError) -> StreamingHostCommand {
        do {
            return try StreamingHostCommand(command: self)
        } catch {
            throw CorralError(.unavailable, "failed to run \(executable)", cause: error)
        }
    }
}

/// A program started by `HostCommand.startStreaming`: its standard output read
/// as a blocking stream, its exit awaited with a bound.
///
/// Every method but `signal` blocks the calling thread: use it from a thread
/// of its own, never from the cooperative pool. Reads come from one thread at
/// a time. Once released (`deinit`), a program still running is SIGKILLed and
/// reaped, and every descriptor is closed.
public final class StreamingHostCommand: Sendable {
    public let pid: Int32
    private let pidfd: Int32
    private let stdoutFD: Int32
    private let stderrFD: Int32
    private let executable: String
    private let state = Mutex(State())

    private struct State {
        var status: Int32?
        var stdoutOpen = true
    }

    fileprivate init(command: HostCommand) throws(SystemCallError) {
        let output = try DetachedSpawn.makePipe()
        let errors = corral_memfd_with(nil, 0)
        if errors < 0 {
            let error = SystemCallError.last("memfd_create")
            close(output.read)
            close(output.write)
            throw error
        }
        let input = command.stdin.isEmpty
            ? open("/dev/null", O_RDONLY | O_CLOEXEC)
            : command.stdin.withUnsafeBytes { corral_memfd_with($0.baseAddress, $0.count) }
        if input < 0 {
            let error = SystemCallError.last(command.stdin.isEmpty ? "open /dev/null" : "memfd_create")
            for fd in [output.read, output.write, errors] { close(fd) }
            throw error
        }
        defer {
            close(output.write)
            close(input)
        }
        let pid: Int32
        do {
            pid = try command.spawnProcess(stdin: input, stdout: output.write, stderr: errors)
        } catch {
            close(output.read)
            close(errors)
            throw error
        }
        guard let pidfd = HostProcess.openPidfd(childPID: pid) else {
            let error = SystemCallError.last("pidfd_open")
            Glibc.kill(pid, SIGKILL)
            _ = HostProcess.waitBlocking(pid)
            close(output.read)
            close(errors)
            throw error
        }
        self.pid = pid
        self.pidfd = pidfd
        self.stdoutFD = output.read
        self.stderrFD = errors
        self.executable = command.executable
    }

    deinit {
        if state.withLock({ $0.status }) == nil {
            _ = corral_pidfd_send_signal(pidfd, SIGKILL)
            _ = HostProcess.waitBlocking(pid)
        }
        if state.withLock({ $0.stdoutOpen }) { close(stdoutFD) }
        close(stderrFD)
        close(pidfd)
    }

    /// Reads up to `buffer.count` bytes of the program's standard output,
    /// blocking until some arrive; 0 at its end (or after `closeOutput`).
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(SystemCallError) -> Int {
        guard state.withLock({ $0.stdoutOpen }) else { return 0 }
        while true {
            let count = Glibc.read(stdoutFD, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno == EINTR { continue }
            throw .last("read", path: executable)
        }
    }

    /// Waits until standard output is readable (or at its end), the program
    /// exits (when `watchingExit`), or `milliseconds` pass (-1: no bound).
    /// Returns whether output is readable and whether the program has exited.
    public func poll(milliseconds: Int32, watchingExit: Bool = true) -> (outputReadable: Bool, exited: Bool) {
        let outputOpen = state.withLock { $0.stdoutOpen }
        var fds: [pollfd] = []
        if outputOpen { fds.append(pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)) }
        if watchingExit { fds.append(pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)) }
        guard !fds.isEmpty else { return (false, false) }
        let count = Glibc.poll(&fds, nfds_t(fds.count), milliseconds)
        guard count > 0 else { return (false, false) }
        return (outputOpen && fds[0].revents != 0, watchingExit && fds[fds.count - 1].revents != 0)
    }

    /// Stops reading standard output: the program gets SIGPIPE or EPIPE if it
    /// writes more. Idempotent.
    public func closeOutput() {
        state.withLock { state in
            guard state.stdoutOpen else { return }
            state.stdoutOpen = false
            close(stdoutFD)
        }
    }

    /// Sends `signal` unless the program has been reaped; whether it was sent.
    /// Never reaches another process: the signal goes through a pidfd.
    @discardableResult
    public func signal(_ signal: Int32) -> Bool {
        state.withLock { state in
            state.status == nil && corral_pidfd_send_signal(pidfd, signal) == 0
        }
    }

    /// Waits up to `milliseconds` (-1: no bound) for the program to exit and
    /// reaps it. Returns its wait status, or nil when it is still running.
    public func wait(milliseconds: Int32) -> Int32? {
        if let status = state.withLock({ $0.status }) { return status }
        var fds = [pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)]
        while true {
            let count = Glibc.poll(&fds, 1, milliseconds)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            break
        }
        return state.withLock { state in
            if state.status == nil { state.status = HostProcess.reapIfChild(pid) }
            return state.status
        }
    }

    /// The last `limit` bytes the program wrote to standard error so far.
    public func standardError(limit: Int) -> [UInt8] {
        // fstat, not lseek: the program shares this descriptor's offset.
        var info = stat()
        guard fstat(stderrFD, &info) == 0, info.st_size > 0 else { return [] }
        let size = Int(info.st_size)
        let start = max(0, size - limit)
        var bytes = [UInt8](repeating: 0, count: size - start)
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(stderrFD, $0.baseAddress.map { $0 + filled }, $0.count - filled, off_t(start + filled)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            filled += n
        }
        return Array(bytes[0..<filled])
    }
}

extension StreamingHostCommand {
    /// The exit code in a wait status, or 128 + the signal that ended the program.
    public static func exitCode(_ status: Int32) -> Int32 {
        status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + status & 0x7f
    }
}
