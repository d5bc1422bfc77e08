import CorralAgentProtocol
import CorralCore
import CorralHost
import Synchronization

/// The host's end of one VM's agent channel (the virtio-serial port `corral.agent`,
/// a unix socket QEMU listens on).
///
/// Requests carry ids from 1 upward and are matched with their replies; `ready`
/// (id 0) is kept for `waitReady`; `workloadExited` is handed to `onWorkloadExited`
/// on the connection's queue, and acknowledged with `ok` under the agent's id only
/// once that returns true (the exit is durably recorded).
final class AgentClient: Sendable {
    private let connection: SocketConnection
    private let core: Core

    struct State {
        var decoder = AgentFrameDecoder()
        var nextID: UInt32 = 1
        var ready: AgentReady?
    }

    /// The key of the slot `ready` resolves; no request uses id 0.
    private static let readyKey: UInt32 = 0

    /// Connects to the agent socket at `path`, retrying until `deadline` while
    /// `keepTrying` holds.
    static func connect(
        path: String,
        watcher: DescriptorWatcher,
        deadline: UInt64,
        keepTrying: @escaping @Sendable () -> Bool,
        onWorkloadExited: @escaping @Sendable (ProcessTermination) -> Bool
    ) async throws(CorralError) -> AgentClient {
        let fd = try await SocketConnection.connect(path: path, deadline: deadline, keepTrying: keepTrying)
        return try AgentClient(fd: fd, path: path, watcher: watcher, onWorkloadExited: onWorkloadExited)
    }

    /// Takes over the connected descriptor `fd`.
    init(
        fd: Int32, path: String, watcher: DescriptorWatcher,
        onWorkloadExited: @escaping @Sendable (ProcessTermination) -> Bool
    ) throws(CorralError) {
        let core = Core(onWorkloadExited: onWorkloadExited)
        core.replies.open(Self.readyKey)
        self.core = core
        connection = try SocketConnection(
            fd: fd, path: path, watcher: watcher,
            onBytes: { bytes in core.received(bytes) },
            onClose: { core.replies.closeAll(.unavailable("the guest agent's channel closed")) }
        )
        core.connection.withLock { $0 = connection }
    }

    deinit {
        connection.close()
    }

    /// Whether the agent's channel is still open.
    var isOpen: Bool { !core.replies.isClosed }

    /// Closes the channel; pending requests fail with `unavailable`.
    func close() {
        connection.close()
        core.replies.closeAll(.unavailable("failed to talk to the guest agent: the channel was closed"))
    }

    /// Waits up to `timeout` for the agent's `ready`.
    func waitReady(timeout: Duration) async throws(CorralError) -> AgentReady {
        if let ready = core.state.withLock({ $0.ready }) { return ready }
        let result = await core.replies.wait(
            Self.readyKey, timeout: timeout,
            timeoutError: .timeout("failed to start instance: the guest agent did not report ready within \(timeout)")
        )
        switch try result.get() {
        case .ready(let ready):
            return ready
        default:
            throw .internal("failed to start instance: the guest agent sent something else than ready")
        }
    }

    /// Sends `message` and returns the agent's reply; an `error` reply is thrown as
    /// `internal` with the agent's message after `verb` ("failed to <verb>: ...").
    func request(_ message: AgentMessage, verb: String, timeout: Duration) async throws(CorralError) -> AgentMessage {
        let id = core.state.withLock { state in
            // Ids with the high bit set are the agent's own (its `workloadExited`).
            defer { state.nextID = state.nextID >= 0x7FFF_FFFF ? 1 : state.nextID + 1 }
            return state.nextID
        }
        core.replies.open(id)
        do {
            try await connection.send(message.encoded(requestID: id))
        } catch {
            core.replies.resolve(id, .failure(error))
        }
        let result = await core.replies.wait(
            id, timeout: timeout, timeoutError: .timeout("failed to \(verb): the guest agent did not answer within \(timeout)")
        )
        switch result {
        case .success(.error(let text)): throw .internal("failed to \(verb): \(text)")
        case .success(let reply): return reply
        case .failure(let error) where error.message.hasPrefix("failed to \(verb):"): throw error
        case .failure(let error): throw CorralError(error.code, "failed to \(verb): \(error.description)")
        }
    }

}

extension AgentClient {
    /// What the connection's callbacks need, without the client itself, so the
    /// client can go away (and close the connection) while the watcher still holds
    /// its callbacks.
    final class Core: Sendable {
        let replies = ReplySlots<UInt32, AgentMessage>()
        let state = Mutex(State())
        let connection = Mutex<SocketConnection?>(nil)
        let onWorkloadExited: @Sendable (ProcessTermination) -> Bool

        init(onWorkloadExited: @escaping @Sendable (ProcessTermination) -> Bool) {
            self.onWorkloadExited = onWorkloadExited
        }

        /// Runs on the watcher thread.
        func received(_ bytes: [UInt8]) {
            var frames: [AgentFrame] = []
            state.withLock { state in
                state.decoder.append(bytes)
                var errors = 0
                while errors < 64 {
                    do {
                        guard let frame = try state.decoder.next() else { break }
                        frames.append(frame)
                    } catch {
                        // The decoder has resynchronised; the damaged bytes are dropped.
                        errors += 1
                    }
                }
            }
            for frame in frames { dispatch(frame) }
        }

        private func dispatch(_ frame: AgentFrame) {
            guard let message = try? AgentMessage(frame: frame) else {
                if frame.requestID != 0 {
                    replies.resolve(frame.requestID, .failure(.internal("the guest agent sent a reply that does not decode")))
                }
                return
            }
            switch message {
            case .ready(let ready):
                state.withLock { $0.ready = ready }
                replies.resolve(AgentClient.readyKey, .success(message))
            case .workloadExited(let termination):
                let id = frame.requestID
                guard let connection = connection.withLock({ $0 }) else { return }
                connection.enqueue { [onWorkloadExited] in
                    if onWorkloadExited(termination), id != 0 {
                        _ = connection.sendNow(AgentMessage.ok.encoded(requestID: id))
                    }
                }
            default:
                replies.resolve(frame.requestID, .success(message))
            }
        }
    }
}
