#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CorralCore
import Foundation
import Synchronization

/// What a finished command printed and how it ended.
struct CommandOutput: Sendable {
    /// The exit status, or 128 + the signal number when a signal ended it.
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a host tool (skopeo, umoci, busybox) as a child process with a deadline.
///
/// The child's exit is observed through Foundation's termination handler and its
/// pipes are read on threads of their own: nothing here blocks the cooperative pool.
enum CommandRunner {
    /// How much of each output stream is kept; the rest is dropped from the front.
    static let outputLimit = 256 * 1024

    /// Runs `executable` and waits for it to exit.
    ///
    /// At `timeout` the child gets SIGTERM, and SIGKILL 5 s later; the call then
    /// throws `timeout`. Cancelling the calling task terminates the child the same
    /// way and throws `internal` ("cancelled"). A child that cannot be started throws
    /// `unavailable`. A non-zero exit is not an error here: the caller reads `status`.
    /// `onOutputLine` sees each complete line of standard output as it arrives.
    static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        timeout: Duration,
        action: String,
        onOutputLine: (@Sendable (String) -> Void)? = nil
    ) async throws(CorralError) -> CommandOutput {
        let tool = (executable as NSString).lastPathComponent
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = FileHandle.nullDevice
        let stdoutPipe = Pipe()
        let stderrPipe = Pipe()
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe

        let state = RunState()
        let finished = DispatchGroup()
        finished.enter()
        process.terminationHandler = { _ in finished.leave() }
        do {
            try process.run()
        } catch {
            throw .unavailable("failed to \(action): cannot run \(executable): \(error)")
        }
        let stdoutCollector = StreamCollector(fd: stdoutPipe.fileHandleForReading.fileDescriptor, onLine: onOutputLine)
        let stderrCollector = StreamCollector(fd: stderrPipe.fileHandleForReading.fileDescriptor, onLine: nil)
        for collector in [stdoutCollector, stderrCollector] {
            finished.enter()
            let thread = Thread {
                collector.drain()
                finished.leave()
            }
            thread.name = "corral-\(tool)-output"
            thread.start()
        }

        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let deadline = DispatchWorkItem {
            guard process.isRunning else { return }
            state.withLock { $0.timedOut = true }
            stop(process)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: deadline)
        defer { deadline.cancel() }

        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                finished.notify(queue: .global()) { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.cancelled = true }
            stop(process)
        }
        withExtendedLifetime((stdoutPipe, stderrPipe)) {}

        let outcome = state.withLock { $0 }
        if outcome.timedOut {
            throw .timeout("failed to \(action): \(tool) did not finish within \(Int(seconds)) s")
        }
        if outcome.cancelled {
            throw .internal("failed to \(action): cancelled")
        }
        let status = process.terminationReason == .uncaughtSignal
            ? 128 + process.terminationStatus : process.terminationStatus
        return CommandOutput(status: status, stdout: stdoutCollector.text, stderr: stderrCollector.text)
    }

    /// SIGTERM now, SIGKILL in 5 s if it is still running.
    private static func stop(_ process: Process) {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        process.terminate()
        DispatchQueue.global().asyncAfter(deadline: .now() + 5) {
            if process.isRunning { kill(pid, SIGKILL) }
        }
    }

    private struct Outcome: Sendable {
        var timedOut = false
        var cancelled = false
    }

    private final class RunState: Sendable {
        private let outcome = Mutex(Outcome())
        func withLock<R>(_ body: (inout Outcome) -> R) -> R { outcome.withLock { body(&$0) } }
    }

    /// Reads one pipe to its end, keeping the last `outputLimit` bytes and handing
    /// out complete lines as they arrive.
    private final class StreamCollector: Sendable {
        private let fd: Int32
        private let onLine: (@Sendable (String) -> Void)?
        private let kept = Mutex<[UInt8]>([])

        init(fd: Int32, onLine: (@Sendable (String) -> Void)?) {
            self.fd = fd
            self.onLine = onLine
        }

        var text: String { String(decoding: kept.withLock { $0 }, as: UTF8.self) }

        func drain() {
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            var line: [UInt8] = []
            while true {
                let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                if count <= 0 { break }
                kept.withLock { buffer in
                    buffer.append(contentsOf: chunk[0..<count])
                    if buffer.count > CommandRunner.outputLimit {
                        buffer.removeFirst(buffer.count - CommandRunner.outputLimit)
                    }
                }
                guard let onLine else { continue }
                for byte in chunk[0..<count] {
                    if byte == 0x0a || byte == 0x0d {
                        if !line.isEmpty { onLine(String(decoding: line, as: UTF8.self)) }
                        line.removeAll(keepingCapacity: true)
                    } else if line.count < 4096 {
                        line.append(byte)
                    }
                }
            }
            if let onLine, !line.isEmpty { onLine(String(decoding: line, as: UTF8.self)) }
        }
    }
}
