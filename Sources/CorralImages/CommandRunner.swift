#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CorralCore
import CorralHost
import CorralShimFormat
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
/// The child is forked and exec'd by `HostCommand` (not Foundation's `Process`,
/// which needs a loopback socket pair and hangs in a network namespace whose
/// loopback is down). Its output and exit are awaited on a thread of its own:
/// nothing here blocks the cooperative pool.
enum CommandRunner {
    /// How much of each output stream is kept; the rest is dropped from the front.
    static let outputLimit = 256 * 1024
    /// Between SIGTERM and SIGKILL.
    static let killGraceNanoseconds: UInt64 = 5_000_000_000
    /// How long output is still read after the child exited while something it
    /// started keeps the pipe open.
    static let drainNanoseconds: UInt64 = 1_000_000_000

    /// Runs `executable` and waits for it to exit.
    ///
    /// At `timeout` the child gets SIGTERM, and SIGKILL 5 s later; the call then
    /// throws `timeout`. Cancelling the calling task terminates the child the same
    /// way and throws `internal` ("cancelled"). A child that cannot be started throws
    /// `unavailable`. A non-zero exit is not an error here: the caller reads `status`.
    /// `onOutputLine` sees each complete line of standard output as it arrives.
    /// Without `environment` the child inherits this process's environment.
    static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        timeout: Duration,
        action: String,
        onOutputLine: (@Sendable (String) -> Void)? = nil
    ) async throws(CorralError) -> CommandOutput {
        let tool = (executable as NSString).lastPathComponent
        let variables = environment ?? ProcessInfo.processInfo.environment
        let command = HostCommand(
            executable: executable, arguments: arguments,
            environment: variables.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })
        let running: StreamingHostCommand
        do {
            running = try command.startStreaming()
        } catch {
            throw .unavailable("failed to \(action): cannot run \(executable): \(error.description)")
        }
        let cancelled = CancelFlag()
        let deadline = HostProcess.monotonicNanoseconds() + nanoseconds(timeout)
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                let thread = Thread {
                    continuation.resume(returning: pump(running, deadline: deadline, cancelled: cancelled, onLine: onOutputLine))
                }
                thread.name = "corral-\(tool)"
                thread.start()
            }
        } onCancel: {
            cancelled.set()
            running.signal(SIGTERM)
        }
        if outcome.timedOut {
            let seconds = timeout.components.seconds
            throw .timeout("failed to \(action): \(tool) did not finish within \(seconds) s")
        }
        if outcome.cancelled {
            throw .internal("failed to \(action): cancelled")
        }
        return CommandOutput(
            status: StreamingHostCommand.exitCode(outcome.status),
            stdout: String(decoding: outcome.stdout, as: UTF8.self),
            stderr: String(decoding: running.standardError(limit: outputLimit), as: UTF8.self))
    }

    private struct Outcome: Sendable {
        var status: Int32
        var stdout: [UInt8]
        var timedOut: Bool
        var cancelled: Bool
    }

    private final class CancelFlag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    /// Reads the child's output and waits for its exit, on the calling (own) thread.
    private static func pump(
        _ running: StreamingHostCommand, deadline: UInt64, cancelled: CancelFlag, onLine: (@Sendable (String) -> Void)?
    ) -> Outcome {
        var kept: [UInt8] = []
        var line: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        var outputOpen = true
        var terminatedAt: UInt64?
        var timedOut = false
        var exitedAt: UInt64?
        while true {
            let now = HostProcess.monotonicNanoseconds()
            if terminatedAt == nil, now >= deadline || cancelled.isSet {
                timedOut = !cancelled.isSet
                running.signal(SIGTERM)
                terminatedAt = now
            }
            if let terminatedAt, now >= terminatedAt + killGraceNanoseconds {
                running.signal(SIGKILL)
            }
            if let exitedAt, !outputOpen || now >= exitedAt + drainNanoseconds { break }
            let (readable, exited) = running.poll(milliseconds: 250, watchingExit: exitedAt == nil)
            if exited, exitedAt == nil { exitedAt = HostProcess.monotonicNanoseconds() }
            guard readable else { continue }
            let count: Int
            do {
                count = try chunk.withUnsafeMutableBytes { (buffer) throws(SystemCallError) -> Int in try running.read(into: buffer) }
            } catch {
                count = 0
            }
            if count == 0 {
                outputOpen = false
                running.closeOutput()
                continue
            }
            kept.append(contentsOf: chunk[0..<count])
            if kept.count > outputLimit { kept.removeFirst(kept.count - outputLimit) }
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
        running.closeOutput()
        let status = running.wait(milliseconds: -1) ?? SIGKILL
        return Outcome(status: status, stdout: kept, timedOut: timedOut, cancelled: cancelled.isSet)
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        let whole = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if whole.overflow { return UInt64.max / 2 }
        return whole.partialValue + UInt64(max(attoseconds, 0) / 1_000_000_000)
    }
}
