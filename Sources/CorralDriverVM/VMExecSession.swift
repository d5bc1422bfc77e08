import CorralAgentProtocol
import CorralCore
import Synchronization

/// A command the guest agent runs with its streams attached (`sessionStart`).
///
/// The agent's `sessionOutput` and `sessionExited` arrive on the driver's watcher
/// thread and are queued here; the agent sends output only within a window the
/// session widens (`sessionWindow`) as the consumer takes output, so the queue
/// holds at most `AgentSession.initialWindow` bytes of output: a slow client slows
/// the command down. Input goes out one `sessionInput` at a time, each answered
/// once the command has taken it. The session ends with the command's exit, or
/// with `failed` when the agent's channel closes.
final class VMExecSession: ExecSession {
    /// Granted back to the agent once this much output was taken.
    static let grantThreshold = 64 << 10
    /// The largest `sessionInput` payload.
    static let inputChunk = 1 << 20

    let id: UInt32
    let terminal: Bool
    private let agent: AgentClient
    private let state = Mutex(State())

    private struct State {
        var events: [ExecSessionEvent] = []
        var waiting: CheckedContinuation<ExecSessionEvent?, Never>?
        /// The last event (exit or failure) was received.
        var ended = false
        var closed = false
        var inputOpen = true
        /// Output bytes taken and not yet granted back.
        var taken = 0
    }

    init(id: UInt32, terminal: Bool, agent: AgentClient) {
        self.id = id
        self.terminal = terminal
        self.agent = agent
    }

    /// Queues an event from the agent; on the watcher thread, never blocks.
    /// Nothing is queued after the last event or once the session is closed.
    func receive(_ event: ExecSessionEvent) {
        let waiting: CheckedContinuation<ExecSessionEvent?, Never>? = state.withLock { state in
            guard !state.ended, !state.closed else { return nil }
            switch event {
            case .exited, .failed: state.ended = true
            case .stdout, .stderr: break
            }
            if let waiting = state.waiting {
                state.waiting = nil
                return waiting
            }
            state.events.append(event)
            return nil
        }
        if let waiting {
            taken(event)
            waiting.resume(returning: event)
        }
    }

    func nextEvent() async -> ExecSessionEvent? {
        let event: ExecSessionEvent? = await withCheckedContinuation { continuation in
            let ready: ExecSessionEvent?? = state.withLock { state in
                if !state.events.isEmpty { return .some(state.events.removeFirst()) }
                if state.ended || state.closed { return .some(nil) }
                state.waiting = continuation
                return .none
            }
            if case .some(let event) = ready {
                if let event { taken(event) }
                continuation.resume(returning: event)
            }
        }
        return event
    }

    /// Counts output handed to the consumer and widens the agent's window.
    private func taken(_ event: ExecSessionEvent) {
        let count: Int
        switch event {
        case .stdout(let bytes), .stderr(let bytes): count = bytes.count
        case .exited, .failed: return
        }
        let grant: Int? = state.withLock { state in
            state.taken += count
            guard state.taken >= Self.grantThreshold, !state.ended, !state.closed else { return nil }
            defer { state.taken = 0 }
            return state.taken
        }
        if let grant { agent.post(.sessionWindow(session: id, bytes: UInt32(clamping: grant))) }
    }

    func writeInput(_ bytes: [UInt8]) async throws(CorralError) {
        var offset = 0
        repeat {
            let open = state.withLock { $0.inputOpen && !$0.closed && !$0.ended }
            guard open else { throw .invalidState("failed to write to the command's input: it is closed") }
            let end = min(offset + Self.inputChunk, bytes.count)
            do {
                _ = try await agent.requestUntilAnswered(
                    .sessionInput(session: id, bytes: Array(bytes[offset..<end])), verb: "write to the command's input")
            } catch {
                throw CorralError(.invalidState, error.message)
            }
            offset = end
        } while offset < bytes.count
    }

    func closeInput() {
        let first = state.withLock { state in
            defer { state.inputOpen = false }
            return state.inputOpen && !state.closed && !state.ended
        }
        if first { agent.post(.sessionCloseInput(session: id)) }
    }

    func resize(_ size: TerminalSize) throws(CorralError) {
        guard terminal else { throw .invalidState("failed to resize the command's terminal: it runs without one") }
        guard state.withLock({ !$0.closed && !$0.ended }) else {
            throw .invalidState("failed to resize the command's terminal: the command has ended")
        }
        agent.post(.sessionResize(session: id, size: SessionTerminalSize(columns: size.columns, rows: size.rows)))
    }

    func signal(_ number: Int32) throws(CorralError) {
        guard (1...64).contains(number) else { throw .invalidArgument("invalid signal \(number): must be 1 to 64") }
        guard state.withLock({ !$0.closed && !$0.ended }) else {
            throw .invalidState("failed to signal the command: it is not running")
        }
        agent.post(.sessionSignal(session: id, signal: number))
    }

    func close() {
        let (first, ended, waiting) = state.withLock { state in
            let first = !state.closed
            state.closed = true
            state.events = []
            let waiting = state.waiting
            state.waiting = nil
            return (first, state.ended, waiting)
        }
        waiting?.resume(returning: nil)
        guard first else { return }
        agent.unregisterSession(id)
        if !ended { agent.post(.sessionClose(session: id)) }
    }
}
