import CCorralSpawn
import CorralAgentProtocol
import Glibc

/// The host's one-shot `exec` requests, served from PID 1's poll loop like the
/// sessions: a long command holds up no other request, session, stop or exit
/// report. Each is answered with its `execResult` once it has exited and been
/// reaped, or with `error` when it cannot start.
struct GuestExecs {
    /// Running commands by the request that started them.
    private var running: [UInt32: RunningCommand] = [:]
    /// Reaped, answered after the next look at their pipes.
    private var ended: [UInt32: ProcessTermination] = [:]

    var isEmpty: Bool { running.isEmpty }

    /// Starts `request`, or answers at once why it cannot.
    mutating func start(_ request: ExecRequest, requestID: UInt32, runner: CommandRunner, port: inout HostPort) {
        guard running[requestID] == nil else {
            port.send(.error("failed to exec: request \(requestID) is already running"), requestID: requestID)
            return
        }
        do throws(AgentSystemError) {
            running[requestID] = try runner.start(request)
        } catch {
            port.send(.error(error.description), requestID: requestID)
        }
    }

    /// The descriptors to poll now, with the request each belongs to.
    func watches() -> [(pollfd, UInt32)] {
        running.flatMap { id, command in command.watches.map { ($0, id) } }
    }

    /// Acts on what poll reported for a descriptor of `watches`.
    mutating func ready(_ requestID: UInt32, _ entry: pollfd) {
        guard entry.revents != 0, var command = running[requestID] else { return }
        command.ready(entry.fd)
        running[requestID] = command
    }

    /// Hands a reaped child's end to its command. Returns false when none owns `pid`.
    mutating func reaped(_ pid: pid_t, _ termination: ProcessTermination) -> Bool {
        guard let id = running.first(where: { $0.value.pid == pid })?.key else { return false }
        ended[id] = termination
        return true
    }

    /// Kills commands past their timeout and answers every reaped one. Call after each poll.
    mutating func finishEnded(port: inout HostPort) {
        let now = corral_monotonic_ns()
        for id in Array(running.keys) {
            guard var command = running[id] else { continue }
            if let termination = ended.removeValue(forKey: id) {
                running[id] = nil
                port.send(.execResult(command.finish(termination)), requestID: id)
            } else {
                command.enforceDeadline(now: now)
                running[id] = command
            }
        }
    }

    /// The nearest timeout of a command not yet killed, in milliseconds of `monotonicMilliseconds`.
    var nextDeadline: Int64? {
        running.values.filter { !$0.timedOut }.compactMap(\.deadline).min().map { Int64($0 / 1_000_000) }
    }

    /// Kills every command: the host that asked for them is gone.
    mutating func killAll() {
        for id in Array(running.keys) {
            running[id]?.abandon()
        }
        running = [:]
        ended = [:]
    }
}
