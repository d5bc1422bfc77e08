import CorralAPI
import CorralClient
import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `corral exec -i` / `-t`: one command in an instance with its streams joined
/// to this process's as they happen.
struct InteractiveExec {
    let client: CorralClient
    let instance: String
    let query: ExecAttachQuery
    /// Copy standard input to the command (`-i`).
    let forwardInput: Bool

    /// Runs the command to its end and returns its exit code. With a terminal,
    /// the local one is in raw mode from the moment the command has started
    /// until this returns or throws, and its size follows SIGWINCH. Without
    /// one, the first SIGINT, SIGTERM or SIGHUP is passed on to the command and
    /// a second one ends corral.
    ///
    /// - Throws: `CorralClientError` when the command could not be started or
    ///   the stream broke, `CommandFailure` for the daemon's `error` frame.
    func run() async throws -> Int32 {
        let attachment = try await client.attachExec(instance, query)
        defer { attachment.finish() }
        let terminal = query.terminal != nil ? try LocalTerminal() : nil
        defer { terminal?.restore() }
        var sources: [any DispatchSourceSignal] = []
        defer { for source in sources { source.cancel() } }
        if terminal != nil {
            sources.append(Self.onSignal(SIGWINCH) { _ in
                if let size = LocalTerminal.size() {
                    attachment.send(.resize(TerminalSizeDTO(cols: size.columns, rows: size.rows)))
                }
            })
        } else {
            let forwarded = ForwardCount()
            for number in [SIGINT, SIGTERM, SIGHUP] {
                sources.append(Self.onSignal(number) { number in
                    if forwarded.increment() > 1 { exit(128 + number) }
                    attachment.send(.signal(number))
                })
            }
        }
        if forwardInput { Self.copyStandardInput(to: attachment) }

        for try await frame in attachment.frames {
            switch frame {
            case .stdout(let bytes): Self.writeAll(STDOUT_FILENO, bytes)
            case .stderr(let bytes): Self.writeAll(STDERR_FILENO, bytes)
            case .exit(let code): return code
            case .error(let message): throw CommandFailure(.failure, message)
            case .stdin, .stdinClose, .resize, .signal:
                throw CommandFailure(.failure, "failed to run the command: corrald sent a client frame")
            }
        }
        throw CommandFailure(.failure, "failed to run the command: the stream ended without an exit code")
    }

    /// Copies standard input to the stream on a thread of its own (a blocking
    /// read that may never return holds no thread of the cooperative pool),
    /// then sends `stdinClose` at its end.
    private static func copyStandardInput(to attachment: ExecAttachment) {
        let thread = Thread {
            var buffer = [UInt8](repeating: 0, count: 32 << 10)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
                if n > 0 {
                    attachment.send(.stdin(Array(buffer[0..<n])))
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    attachment.send(.stdinClose)
                    return
                }
            }
        }
        thread.name = "corral-stdin"
        thread.start()
    }

    private static func onSignal(_ number: Int32, _ handler: @escaping @Sendable (Int32) -> Void) -> any DispatchSourceSignal {
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler { handler(number) }
        source.resume()
        return source
    }

    /// Writes every byte, retrying short writes; gives up quietly when the
    /// reader has gone (EPIPE), as `cat` would.
    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + offset }, $0.count - offset) }
            if n > 0 {
                offset += n
            } else if n < 0 && (errno == EINTR || errno == EAGAIN) {
                continue
            } else {
                return
            }
        }
    }
}

/// How many signals were passed on.
private final class ForwardCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func increment() -> Int {
        lock.lock()
        defer { lock.unlock() }
        count += 1
        return count
    }
}
