import CCorralSpawn
import CorralAgentProtocol
import Glibc

/// Answers host requests arriving as frames.
///
/// Requests are handled one at a time in arrival order; here (`corral-agent
/// serve`) an `exec` occupies the server until its command ends, while PID 1 runs
/// execs from its poll loop (`GuestExecs`). A frame that cannot be decoded is answered with
/// `error` (request id 0 when the header itself was bad) and serving continues.
struct AgentServer {
    static let version = "corral-agent 1"

    /// What the caller must do after a reply has been sent.
    enum Outcome: Equatable {
        case proceed
        case shutdown(graceMilliseconds: UInt32)
    }

    var runner = CommandRunner()
    var fileLimit = Int(AgentFrame.defaultPayloadLimit) - 64 * 1024

    /// The reply to one request.
    func respond(to message: AgentMessage) -> (reply: AgentMessage, outcome: Outcome) {
        do throws(AgentSystemError) {
            switch message {
            case .exec(let request):
                return (.execResult(try runner.run(request)), .proceed)
            case .readFile(let path):
                return (.fileData(try GuestFiles.read(path: path, limit: fileLimit)), .proceed)
            case .writeFile(let request):
                try GuestFiles.write(request)
                return (.ok, .proceed)
            case .metricsRequest:
                return (.metrics(try GuestMetricsReader.read()), .proceed)
            case .shutdown(let grace):
                return (.ok, .shutdown(graceMilliseconds: grace))
            case .configure:
                return (.error("failed to configure the guest: the agent is not PID 1 of a VM"), .proceed)
            case .sessionStart, .sessionInput, .sessionCloseInput, .sessionResize, .sessionSignal, .sessionClose,
                .sessionWindow:
                return (.error("failed to handle \(message.type): sessions need the agent as PID 1 of a VM"), .proceed)
            case .ready, .execResult, .fileData, .ok, .metrics, .workloadExited, .error, .sessionOutput, .sessionExited:
                return (.error("failed to handle \(message.type): not a request"), .proceed)
            }
        } catch {
            return (.error(error.description), .proceed)
        }
    }

    /// Decodes and answers every complete frame buffered in `channel`. Returns the
    /// first shutdown asked for, if any.
    func serveBuffered(_ channel: inout AgentChannel) throws(AgentSystemError) -> UInt32? {
        var shutdown: UInt32?
        while true {
            let frame: AgentFrame
            do throws(AgentProtocolError) {
                guard let next = try channel.nextFrame() else { return shutdown }
                frame = next
            } catch {
                try channel.send(.error(error.description), requestID: 0)
                continue
            }
            let reply: AgentMessage
            do throws(AgentProtocolError) {
                let (answer, outcome) = respond(to: try AgentMessage(frame: frame))
                reply = answer
                if case .shutdown(let grace) = outcome, shutdown == nil { shutdown = grace }
            } catch {
                reply = .error(error.description)
            }
            try channel.send(reply, requestID: frame.requestID)
        }
    }

    /// Serves `channel` until the host closes it or asks for a shutdown. Sends
    /// `ready` first.
    func serve(_ channel: inout AgentChannel) throws(AgentSystemError) {
        try channel.send(
            .ready(AgentReady(agentVersion: Self.version, bootClockNanoseconds: corral_agent_boottime_ns())),
            requestID: 0)
        while try channel.receive() {
            if try serveBuffered(&channel) != nil { return }
        }
    }
}
