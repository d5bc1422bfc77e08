import CCorralSpawn
import CorralCore
import CorralHost
import CorralShimFormat
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A `crun exec` run with its streams attached: a terminal master (one stream,
/// input and output) or three pipes.
///
/// One dedicated thread per session polls the output descriptors and the crun
/// process's pidfd; it hands each chunk over only when the consumer asks for
/// it (`nextEvent`), so a slow client slows the command down instead of growing
/// a buffer. That thread alone closes the output descriptors and reaps crun.
/// Input is written from the caller's task with non-blocking writes; when the
/// command does not read, the writer waits in short sleeps.
final class RuntimeExecSession: ExecSession {
    struct Descriptors: Sendable {
        /// The crun process, a child of the daemon.
        var crunPID: Int32
        var pidfd: Int32
        /// The terminal master or the write end of the command's stdin pipe.
        var input: Int32
        /// The terminal master, or the read ends of stdout and stderr.
        var stdout: Int32
        var stderr: Int32?
        var terminal: Bool
    }

    /// What identifies the command inside the container, and the files to remove.
    struct Files: Sendable {
        var pidFile: String
        var errorLog: String
        var cgroupPath: String
        var removeAtEnd: [String]
    }

    private struct State {
        /// Ready for the consumer, taken by `nextEvent`.
        var pending: ExecSessionEvent?
        var waiting: CheckedContinuation<ExecSessionEvent?, Never>?
        var finished = false
        var closed = false
        var inputOpen = true
        var exited = false
    }

    /// How long output is still read after crun has exited while something in
    /// the container keeps the terminal or a pipe open.
    static let drainNanoseconds: UInt64 = 1_000_000_000
    static let chunkSize = 32 << 10
    /// How long a closed session waits for crun's pid file before killing crun.
    static let pidFileWaitNanoseconds: UInt64 = 2_000_000_000

    private let descriptors: Descriptors
    private let files: Files
    private let wakeFD: Int32
    private let state = Mutex(State())
    private let handedOver = DispatchSemaphore(value: 0)

    /// Takes ownership of every descriptor in `descriptors` and starts the
    /// session's thread.
    init(descriptors: Descriptors, files: Files) throws(CorralError) {
        let wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        if wakeFD < 0 {
            throw CorralError(.internal, "failed to attach to a command in instance", cause: SystemCallError.last("eventfd"))
        }
        self.descriptors = descriptors
        self.files = files
        self.wakeFD = wakeFD
        let thread = Thread { [self] in pump() }
        thread.name = "corral-exec-\(descriptors.crunPID)"
        thread.start()
    }

    func nextEvent() async -> ExecSessionEvent? {
        await withCheckedContinuation { (continuation: CheckedContinuation<ExecSessionEvent?, Never>) in
            let ready: ExecSessionEvent?? = state.withLock { state in
                if let event = state.pending {
                    state.pending = nil
                    return .some(event)
                }
                if state.finished || state.closed { return .some(nil) }
                state.waiting = continuation
                return .none
            }
            if case .some(let event) = ready {
                if event != nil { handedOver.signal() }
                continuation.resume(returning: event)
            }
        }
    }

    func writeInput(_ bytes: [UInt8]) async throws(CorralError) {
        var offset = 0
        var pause: UInt64 = 1_000_000
        while offset < bytes.count {
            let result: Int = state.withLock { state in
                guard state.inputOpen, !state.closed, !state.exited else { return -2 }
                return bytes.withUnsafeBytes { buffer in
                    let n = Glibc.write(descriptors.input, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                    return n < 0 ? (errno == EAGAIN || errno == EINTR ? 0 : -1) : n
                }
            }
            if result == -2 { throw .invalidState("failed to write to the command's input: it is closed") }
            if result < 0 { throw .invalidState("failed to write to the command's input: it has ended") }
            if result > 0 {
                offset += result
                pause = 1_000_000
                continue
            }
            do {
                try await Task.sleep(nanoseconds: pause)
            } catch {
                throw .unavailable("failed to write to the command's input: the request was cancelled")
            }
            pause = min(pause * 2, 50_000_000)
        }
    }

    func closeInput() {
        state.withLock { state in
            guard state.inputOpen, !state.closed else { return }
            state.inputOpen = false
            if descriptors.terminal {
                // The terminal's VEOF character: end of file for a reader at a line start.
                var eof: UInt8 = 4
                _ = Glibc.write(descriptors.input, &eof, 1)
            } else {
                Glibc.close(descriptors.input)
            }
        }
    }

    func resize(_ size: TerminalSize) throws(CorralError) {
        guard descriptors.terminal else {
            throw .invalidState("failed to resize the command's terminal: it runs without one")
        }
        let failure: Int32? = state.withLock { state in
            if state.closed || state.finished { return EBADF }
            return corral_terminal_set_size(descriptors.stdout, size.columns, size.rows) == 0 ? nil : errno
        }
        if let failure {
            throw CorralError(.invalidState, "failed to resize the command's terminal", cause: SystemCallError("ioctl TIOCSWINSZ", errno: failure))
        }
    }

    func signal(_ number: Int32) throws(CorralError) {
        guard (1...64).contains(number) else { throw .invalidArgument("invalid signal \(number): must be 1 to 64") }
        let gone = state.withLock { $0.exited || $0.closed }
        if gone || !ContainerDriver.signalExecProcess(pidFile: files.pidFile, cgroupPath: files.cgroupPath, number) {
            throw .invalidState("failed to signal the command: it is not running")
        }
    }

    func close() {
        let waiting = state.withLock { state -> CheckedContinuation<ExecSessionEvent?, Never>? in
            let first = !state.closed
            state.closed = true
            let waiting = state.waiting
            state.waiting = nil
            // Under the lock: the session thread closes `wakeFD` under it too.
            if first && !state.finished {
                var one: UInt64 = 1
                _ = Glibc.write(wakeFD, &one, MemoryLayout<UInt64>.size)
            }
            return waiting
        }
        waiting?.resume(returning: nil)
        handedOver.signal()
    }

    // MARK: - The session thread

    /// Hands `event` to the consumer and blocks until it was taken; false when
    /// the session was closed instead.
    private func deliver(_ event: ExecSessionEvent) -> Bool {
        let (waiting, closed) = state.withLock { state -> (CheckedContinuation<ExecSessionEvent?, Never>?, Bool) in
            if state.closed { return (nil, true) }
            if let waiting = state.waiting {
                state.waiting = nil
                return (waiting, false)
            }
            state.pending = event
            return (nil, false)
        }
        if closed { return false }
        if let waiting {
            waiting.resume(returning: event)
            return true
        }
        handedOver.wait()
        return !state.withLock { $0.closed }
    }

    private func pump() {
        var outputs: [(fd: Int32, isStderr: Bool)] = [(descriptors.stdout, false)]
        if let stderr = descriptors.stderr { outputs.append((stderr, true)) }
        var status: Int32?
        var drainDeadline: UInt64?
        var chunk = [UInt8](repeating: 0, count: Self.chunkSize)
        var ended = false
        while !ended {
            if state.withLock({ $0.closed }) { break }
            var polled = outputs.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            polled.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0))
            if status == nil { polled.append(pollfd(fd: descriptors.pidfd, events: Int16(POLLIN), revents: 0)) }
            var timeout: Int32 = -1
            if let drainDeadline {
                let now = HostProcess.monotonicNanoseconds()
                timeout = drainDeadline <= now ? 0 : Int32((drainDeadline - now + 999_999) / 1_000_000)
            }
            let count = poll(&polled, nfds_t(polled.count), timeout)
            if count < 0 && errno != EINTR { break }
            if status == nil, let last = polled.last, last.revents != 0 {
                status = state.withLock { state in
                    state.exited = true
                    return HostProcess.reapIfChild(descriptors.crunPID) ?? (128 + SIGKILL) << 8
                }
                drainDeadline = HostProcess.monotonicNanoseconds() + Self.drainNanoseconds
            }
            var stillOpen: [(fd: Int32, isStderr: Bool)] = []
            for (index, output) in outputs.enumerated() {
                guard polled[index].revents != 0 else {
                    stillOpen.append(output)
                    continue
                }
                let n = chunk.withUnsafeMutableBytes { Glibc.read(output.fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    stillOpen.append(output)
                    let bytes = Array(chunk[0..<n])
                    let handing = HostProcess.monotonicNanoseconds()
                    if !deliver(output.isStderr ? .stderr(bytes) : .stdout(bytes)) { ended = true }
                    // The drain time runs only while the consumer takes output: what the
                    // command wrote before exiting is all delivered to a slow one.
                    drainDeadline = drainDeadline.map { $0 + (HostProcess.monotonicNanoseconds() - handing) }
                } else if n < 0 && (errno == EAGAIN || errno == EINTR) {
                    stillOpen.append(output)
                }
                // 0 (end of file) or an error (EIO: the terminal's other side closed): done with it.
            }
            outputs = stillOpen
            if let status, let deadline = drainDeadline,
               outputs.isEmpty || HostProcess.monotonicNanoseconds() >= deadline {
                _ = deliver(finalEvent(status))
                ended = true
            }
        }
        release(reapedCrun: status != nil)
    }

    /// The last event for crun's wait status: the command's exit code, or crun's
    /// own error when the command could not be run.
    private func finalEvent(_ status: Int32) -> ExecSessionEvent {
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + status & 0x7f
        if code != 0, let error = OCIRuntime.errors(inLog: files.errorLog).last {
            return .failed(ContainerDriver.execFailure(error))
        }
        return .exited(code)
    }

    /// Ends what still runs (on this thread: it may wait), closes everything and
    /// removes the session's files.
    private func release(reapedCrun: Bool) {
        if !reapedCrun {
            // crun writes the pid file only after the command has started (it may
            // already be printing): without the pid the command would outlive crun.
            let deadline = HostProcess.monotonicNanoseconds() + Self.pidFileWaitNanoseconds
            var exited = [pollfd(fd: descriptors.pidfd, events: Int16(POLLIN), revents: 0)]
            while (try? RawFile.read(files.pidFile, limit: 64))?.isEmpty != false, HostProcess.monotonicNanoseconds() < deadline {
                if poll(&exited, 1, 20) > 0 { break }
            }
            ContainerDriver.killExecProcess(pidFile: files.pidFile, cgroupPath: files.cgroupPath)
            Glibc.kill(descriptors.crunPID, SIGKILL)
            _ = poll(&exited, 1, 5000)
        }
        let waiting = state.withLock { state in
            if !reapedCrun { HostProcess.reapIfChild(descriptors.crunPID) }
            state.finished = true
            state.exited = true
            if state.inputOpen && descriptors.input != descriptors.stdout { Glibc.close(descriptors.input) }
            state.inputOpen = false
            Glibc.close(wakeFD)
            let waiting = state.waiting
            state.waiting = nil
            return waiting
        }
        waiting?.resume(returning: nil)
        Glibc.close(descriptors.stdout)
        if let stderr = descriptors.stderr { Glibc.close(stderr) }
        Glibc.close(descriptors.pidfd)
        for file in files.removeAtEnd { try? RawFile.remove(file) }
    }
}
