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
/// once that returns true (the exit is durably recorded). `sessionOutput` and
/// `sessionExited` go to the session registered under their id; when the channel
/// closes, every registered session fails.
final class AgentClient: Sendable {
    private let connection: SocketConnection
    private let core: Core

    struct State {
        var decoder = AgentFrameDecoder()
        var nextID: UInt32 = 1
        var nextSessionID: UInt32 = 1
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
            onClose: {
                core.replies.closeAll(.unavailable("the guest agent's channel closed"))
                core.failSessions()
            }
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
        core.failSessions()
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
        try await request(message, verb: verb, timeout: Optional(timeout))
    }

    /// `request` without a timeout, for a reply that comes when the guest is ready
    /// (a command taking its input); it still fails when the channel closes.
    func requestUntilAnswered(_ message: AgentMessage, verb: String) async throws(CorralError) -> AgentMessage {
        try await request(message, verb: verb, timeout: nil)
    }

    private func request(_ message: AgentMessage, verb: String, timeout: Duration?) async throws(CorralError) -> AgentMessage {
        let id = nextRequestID()
        core.replies.open(id)
        do {
            try await connection.send(message.encoded(requestID: id))
        } catch {
            core.replies.resolve(id, .failure(error))
        }
        let result: Result<AgentMessage, CorralError>
        if let timeout {
            result = await core.replies.wait(
                id, timeout: timeout, timeoutError: .timeout("failed to \(verb): the guest agent did not answer within \(timeout)")
            )
        } else {
            result = await core.replies.wait(id)
        }
        switch result {
        case .success(.error(let text)): throw .internal("failed to \(verb): \(text)")
        case .success(let reply): return reply
        case .failure(let error) where error.message.hasPrefix("failed to \(verb):"): throw error
        case .failure(let error): throw CorralError(error.code, "failed to \(verb): \(error.description)")
        }
    }

    /// Sends `message` in order with requests and ignores its reply.
    func post(_ message: AgentMessage) {
        let bytes = message.encoded(requestID: nextRequestID())
        connection.enqueue { [connection] in _ = connection.sendNow(bytes) }
    }

    private func nextRequestID() -> UInt32 {
        core.state.withLock { state in
            // Ids with the high bit set are the agent's own (its `workloadExited`).
            defer { state.nextID = state.nextID >= 0x7FFF_FFFF ? 1 : state.nextID + 1 }
            return state.nextID
        }
    }

    /// Registers a new session and returns its id; its events arrive from now on.
    func registerSession(_ make: (UInt32) -> VMExecSession) -> VMExecSession {
        let id = core.state.withLock { state in
            defer { state.nextSessionID = state.nextSessionID == UInt32.max ? 1 : state.nextSessionID + 1 }
            return state.nextSessionID
        }
        let session = make(id)
        let failed = core.sessions.withLock { sessions in
            if sessions.closed { return true }
            sessions.byID[id] = session
            return false
        }
        if failed || core.replies.isClosed { session.receive(.failed(Core.channelClosed)) }
        return session
    }

    /// Stops routing events to session `id`.
    func unregisterSession(_ id: UInt32) {
        _ = core.sessions.withLock { $0.byID.removeValue(forKey: id) }
    }
}

extension AgentClient {
    /// What the connection's callbacks need, without the client itself, so the
    /// client can go away (and close the connection) while the watcher still holds
    /// its callbacks.
    final class Core: Sendable {
        let replies = ReplySlots<UInt32, AgentMessage>()
        let state = Mutex(State())
        let sessions = Mutex(Sessions())
        static let channelClosed = CorralError.unavailable("failed to attach to a command in instance: the guest agent's channel closed")

        struct Sessions {
            var byID: [UInt32: VMExecSession] = [:]
            var closed = false
        }
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
            case .sessionOutput(let id, let stream, let bytes):
                session(id)?.receive(stream == 2 ? .stderr(bytes) : .stdout(bytes))
            case .sessionExited(let id, let code):
                let session = sessions.withLock { $0.byID.removeValue(forKey: id) }
                session?.receive(.exited(code))
            default:
                replies.resolve(frame.requestID, .success(message))
            }
        }

        private func session(_ id: UInt32) -> VMExecSession? {
            sessions.withLock { $0.byID[id] }
        }

        /// Ends every session with `failed`: the channel is gone.
        func failSessions() {
            let ended = sessions.withLock { sessions in
                sessions.closed = true
                defer { sessions.byID = [:] }
                return Array(sessions.byID.values)
            }
            for session in ended { session.receive(.failed(Self.channelClosed)) }
        }
    }
}
