import CCorralSpawn
import CorralAgentProtocol
import Glibc

/// The host's interactive sessions, served from PID 1's poll loop.
///
/// Nothing here blocks: input waits in the session until the command takes it
/// (and only then is the host's `sessionInput` answered), output is read only
/// while the host's window allows and the port's queue is short, so memory stays
/// bounded however fast the command writes or slowly the host reads. A session's
/// `sessionExited` follows all of its output; a command that leaves something
/// holding its output open gets `drainMilliseconds` after its exit (counted
/// only while the host takes output).
struct GuestSessions {
    /// How long output is still read after the command's exit.
    static let drainMilliseconds: Int64 = 1000
    /// Session output is not read while more than this is queued for the host.
    static let portBacklogLimit = 256 << 10
    /// Input a session may hold that its command has not taken yet.
    static let pendingInputLimit = 4 << 20

    private var sessions: [UInt32: GuestSession] = [:]

    var isEmpty: Bool { sessions.isEmpty }

    /// One descriptor to poll and whose it is.
    struct Watch {
        var session: UInt32
        /// 0: input, 1: stdout, 2: stderr.
        var stream: UInt8
    }

    /// Handles a session message from the host; every one is answered on `port`.
    mutating func handle(
        _ message: AgentMessage, requestID: UInt32, baseEnvironment: [String], port: inout HostPort
    ) {
        switch message {
        case .sessionStart(let request):
            guard sessions[request.session] == nil else {
                port.send(.error("failed to start session \(request.session): it already exists"), requestID: requestID)
                return
            }
            do throws(AgentSystemError) {
                let environment = CommandRunner.merge(baseEnvironment, request.environment)
                sessions[request.session] = try GuestSession.start(request, environment: environment)
                port.send(.ok, requestID: requestID)
            } catch {
                port.send(.error(error.description), requestID: requestID)
            }
        case .sessionInput(let id, let bytes):
            guard var session = sessions[id], session.input >= 0, !session.inputClosing else {
                port.send(.error("failed to write to session \(id): its input is closed"), requestID: requestID)
                return
            }
            let pending = session.pendingInput.reduce(0) { $0 + $1.bytes.count - $1.written }
            guard pending + bytes.count <= Self.pendingInputLimit else {
                port.send(
                    .error("failed to write to session \(id): \(pending) bytes of input are still pending"), requestID: requestID)
                return
            }
            session.pendingInput.append(.init(bytes: bytes, requestID: requestID))
            sessions[id] = session
            writeInput(id, port: &port)
        case .sessionCloseInput(let id):
            guard var session = sessions[id] else { return unknown(id, requestID: requestID, port: &port) }
            if !session.inputClosing, session.input >= 0 {
                // A terminal's end of file is its EOF character (^D in canonical mode).
                if session.terminal { session.pendingInput.append(.init(bytes: [4], requestID: 0)) }
                session.inputClosing = true
            }
            sessions[id] = session
            port.send(.ok, requestID: requestID)
            writeInput(id, port: &port)
        case .sessionResize(let id, let size):
            guard let session = sessions[id] else { return unknown(id, requestID: requestID, port: &port) }
            guard session.terminal, session.input >= 0 else {
                port.send(.error("failed to resize session \(id): it has no terminal"), requestID: requestID)
                return
            }
            if corral_terminal_set_size(session.input, size.columns, size.rows) != 0 {
                port.send(.error(AgentSystemError("resize session \(id)", call: "ioctl TIOCSWINSZ").description), requestID: requestID)
                return
            }
            port.send(.ok, requestID: requestID)
        case .sessionSignal(let id, let signal):
            guard let session = sessions[id] else { return unknown(id, requestID: requestID, port: &port) }
            if session.termination == nil, kill(session.pid, signal) != 0 {
                port.send(.error(AgentSystemError("signal session \(id)", call: "kill").description), requestID: requestID)
                return
            }
            port.send(.ok, requestID: requestID)
        case .sessionWindow(let id, let bytes):
            guard var session = sessions[id] else { return unknown(id, requestID: requestID, port: &port) }
            session.window = min(session.window + Int(bytes), Int(UInt32.max))
            sessions[id] = session
            port.send(.ok, requestID: requestID)
        case .sessionClose(let id):
            if sessions[id] != nil { end(id, kill: true, port: &port) }
            port.send(.ok, requestID: requestID)
        default:
            port.send(.error("failed to handle \(message.type): not a session request"), requestID: requestID)
        }
    }

    private func unknown(_ id: UInt32, requestID: UInt32, port: inout HostPort) {
        port.send(.error("failed to find session \(id): it does not exist or has ended"), requestID: requestID)
    }

    /// The descriptors to poll now. Output only while the host can take it.
    func watches(portBacklog: Int) -> [(pollfd, Watch)] {
        var result: [(pollfd, Watch)] = []
        let readOutput = portBacklog <= Self.portBacklogLimit
        for (id, session) in sessions {
            if session.input >= 0, !session.pendingInput.isEmpty {
                result.append((pollfd(fd: session.input, events: Int16(POLLOUT), revents: 0), Watch(session: id, stream: 0)))
            }
            guard readOutput, session.window > 0 else { continue }
            if session.stdout >= 0 {
                result.append((pollfd(fd: session.stdout, events: Int16(POLLIN), revents: 0), Watch(session: id, stream: 1)))
            }
            if session.stderr >= 0 {
                result.append((pollfd(fd: session.stderr, events: Int16(POLLIN), revents: 0), Watch(session: id, stream: 2)))
            }
        }
        return result
    }

    /// Acts on what poll reported for `watch`.
    mutating func ready(_ watch: Watch, revents: Int16, port: inout HostPort) {
        guard revents != 0, var session = sessions[watch.session] else { return }
        if watch.stream == 0 {
            writeInput(watch.session, port: &port)
            return
        }
        let bytes = session.readOutput(watch.stream)
        sessions[watch.session] = session
        if !bytes.isEmpty {
            port.send(
                .sessionOutput(session: watch.session, stream: watch.stream, bytes: bytes), requestID: AgentSession.eventRequestID)
        }
    }

    /// Hands a reaped child's end to its session. Returns false when no session owns `pid`.
    mutating func reaped(_ pid: pid_t, _ termination: ProcessTermination) -> Bool {
        guard let id = sessions.first(where: { $0.value.pid == pid })?.key, var session = sessions[id] else { return false }
        session.termination = termination
        session.drainDeadline = monotonicMilliseconds() + Self.drainMilliseconds
        sessions[id] = session
        return true
    }

    /// Sends `sessionExited` for every session that is over. Call after each poll.
    /// The drain time of an exited command does not run while the host holds its
    /// output back: what it wrote before exiting is all delivered.
    mutating func finishEnded(port: inout HostPort) {
        let now = monotonicMilliseconds()
        let hostBehind = port.pendingOutputCount > Self.portBacklogLimit
        for (id, var session) in sessions where session.termination != nil {
            let open = session.stdout >= 0 || session.stderr >= 0
            if open, session.window <= 0 || hostBehind {
                session.drainDeadline = now + Self.drainMilliseconds
                session.drainHeldBack = true
                sessions[id] = session
            } else if open, session.drainHeldBack {
                // Output flows again: a whole drain time from now. The deadline set
                // while held back may have passed as the host's window arrived.
                session.drainDeadline = now + Self.drainMilliseconds
                session.drainHeldBack = false
                sessions[id] = session
            } else if session.isFinished(now: now) {
                end(id, kill: false, port: &port)
            }
        }
    }

    /// The nearest drain deadline, if any.
    var nextDeadline: Int64? {
        sessions.values.compactMap(\.drainDeadline).min()
    }

    /// Kills every session: the host that started them is gone.
    mutating func killAll(port: inout HostPort) {
        for id in Array(sessions.keys) { end(id, kill: true, port: &port) }
    }

    private mutating func writeInput(_ id: UInt32, port: inout HostPort) {
        guard var session = sessions[id] else { return }
        let (completed, failed) = session.writeInput()
        for requestID in completed { port.send(.ok, requestID: requestID) }
        if failed {
            for pending in session.pendingInput where pending.requestID != 0 {
                port.send(.error("failed to write to session \(id): the command's input is gone"), requestID: pending.requestID)
            }
            session.pendingInput = []
            if !session.terminal, session.input >= 0 {
                close(session.input)
                session.input = -1
            }
        }
        sessions[id] = session
    }

    /// Ends session `id`: kills its command if asked (else reports its exit),
    /// fails its pending input and closes its descriptors.
    private mutating func end(_ id: UInt32, kill killCommand: Bool, port: inout HostPort) {
        guard var session = sessions.removeValue(forKey: id) else { return }
        if killCommand, session.termination == nil {
            kill(-session.pid, SIGKILL)
            kill(session.pid, SIGKILL)
        }
        for pending in session.pendingInput where pending.requestID != 0 {
            port.send(.error("failed to write to session \(id): the session has ended"), requestID: pending.requestID)
        }
        if !killCommand, let termination = session.termination {
            port.send(.sessionExited(session: id, code: termination.shellStatus), requestID: AgentSession.eventRequestID)
        }
        session.closeAll()
    }
}
