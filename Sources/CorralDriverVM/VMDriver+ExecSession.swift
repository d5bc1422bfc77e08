import CorralAgentProtocol
import CorralCore
import Foundation

extension VMDriver {
    /// How long the agent may take to start an interactive command.
    static let sessionStartTimeout: Duration = .seconds(30)

    /// Starts a command in the guest through the agent, its streams attached to
    /// the returned session.
    ///
    /// The command runs as `exec` runs one (as root, in the guest's root, with the
    /// agent's environment plus `request.env`). With `request.terminal` it gets a
    /// new pseudo-terminal of that size as its controlling terminal; without, three
    /// pipes. Closing the session kills the command (its process group) if it
    /// still runs.
    ///
    /// Fails with `invalidState` unless the VM runs and is not suspended,
    /// `invalidArgument` for an empty command, and `unavailable` or `timeout` when
    /// the agent cannot be reached. A command the agent cannot start ends the
    /// session with a `failed` event.
    public func startExecSession(_ uuid: UUID, handle: DriverHandle, request: InteractiveExecRequest) async throws(CorralError)
        -> any ExecSession
    {
        let verb = "attach to a command in instance"
        guard !request.command.isEmpty else { throw .invalidArgument("invalid field 'command': must not be empty") }
        if let qmp = try? await qmp(uuid, handle: handle, verb: verb), (try? await qmp.status()) == "paused" {
            throw .invalidState("failed to \(verb): it is suspended")
        }
        let agent = try await agent(uuid, handle: handle, verb: verb)
        let session = agent.registerSession { VMExecSession(id: $0, terminal: request.terminal != nil, agent: agent) }
        let start = SessionStartRequest(
            session: session.id, argv: request.command,
            environment: request.env.keys.sorted().map { "\($0)=\(request.env[$0] ?? "")" },
            workingDirectory: request.workingDirectory,
            terminal: request.terminal.map { SessionTerminalSize(columns: $0.columns, rows: $0.rows) })
        do throws(CorralError) {
            let reply = try await agent.request(.sessionStart(start), verb: verb, timeout: Self.sessionStartTimeout)
            guard reply == .ok else { throw .internal("failed to \(verb): the guest agent answered with \(reply.type)") }
        } catch {
            guard error.code == .internal else {
                session.close()
                throw error
            }
            // The agent could not start the command: the session reports it.
            agent.unregisterSession(session.id)
            session.receive(.failed(error))
        }
        return session
    }
}
