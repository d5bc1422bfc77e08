import CorralAgentProtocol
import CorralCore
import Foundation

extension VMDriver {
    /// Largest file `readFile` returns; the agent's frames are bounded at 16 MiB.
    public static let fileSizeLimit = 15 << 20

    /// Runs a command in the guest through the agent; a paused VM cannot answer.
    public func exec(_ uuid: UUID, handle: DriverHandle, request: CorralCore.ExecRequest) async throws(CorralError) -> CorralCore.ExecResult {
        guard !request.command.isEmpty else { throw .invalidArgument("invalid field 'command': must not be empty") }
        let agent = try await agent(uuid, handle: handle, verb: "exec in instance")
        let milliseconds = request.timeout.components.seconds * 1000 + request.timeout.components.attoseconds / 1_000_000_000_000_000
        let message = CorralAgentProtocol.ExecRequest(
            argv: request.command,
            environment: request.env.keys.sorted().map { "\($0)=\(request.env[$0] ?? "")" },
            workingDirectory: request.workingDirectory,
            stdin: request.stdin,
            timeoutMilliseconds: UInt32(clamping: max(milliseconds, 1))
        )
        let reply = try await agent.request(.exec(message), verb: "exec in instance", timeout: request.timeout + .seconds(5))
        guard case .execResult(let result) = reply else {
            throw .internal("failed to exec in instance: the guest agent answered with \(reply.type)")
        }
        if result.timedOut {
            throw .timeout("failed to exec in instance: \(request.command[0]) did not finish within \(request.timeout)")
        }
        return CorralCore.ExecResult(exitCode: result.termination.shellStatus, stdout: result.stdout, stderr: result.stderr)
    }

    /// Reads a guest file through the agent.
    public func readFile(_ uuid: UUID, handle: DriverHandle, path: String) async throws(CorralError) -> [UInt8] {
        try Self.checkGuestPath(path, verb: "read file")
        let agent = try await agent(uuid, handle: handle, verb: "read file")
        let reply = try await Self.fileRequest(agent, .readFile(path: path), verb: "read file \(path)")
        guard case .fileData(let data) = reply else {
            throw .internal("failed to read file \(path): the guest agent answered with \(reply.type)")
        }
        return data
    }

    /// Replaces a guest file atomically through the agent.
    public func writeFile(
        _ uuid: UUID, handle: DriverHandle, path: String, contents: [UInt8], mode: UInt32
    ) async throws(CorralError) {
        try Self.checkGuestPath(path, verb: "write file")
        guard contents.count <= Self.fileSizeLimit else {
            throw .invalidArgument("failed to write file \(path): \(contents.count) bytes exceed the limit of \(Self.fileSizeLimit)")
        }
        let agent = try await agent(uuid, handle: handle, verb: "write file")
        let reply = try await Self.fileRequest(
            agent, .writeFile(WriteFileRequest(path: path, mode: mode, contents: contents)), verb: "write file \(path)"
        )
        guard reply == .ok else { throw .internal("failed to write file \(path): the guest agent answered with \(reply.type)") }
    }

    /// A file request; the agent's errors about a missing path are `notFound`.
    private static func fileRequest(_ agent: AgentClient, _ message: AgentMessage, verb: String) async throws(CorralError) -> AgentMessage {
        do {
            return try await agent.request(message, verb: verb, timeout: .seconds(30))
        } catch {
            let lowered = error.message.lowercased()
            if error.code == .internal, lowered.contains("no such file") { throw .notFound(error.message) }
            if error.code == .internal, lowered.contains("is a directory") || lowered.contains("too large") {
                throw .invalidArgument(error.message)
            }
            throw error
        }
    }

    static func checkGuestPath(_ path: String, verb: String) throws(CorralError) {
        guard path.hasPrefix("/") else { throw .invalidArgument("failed to \(verb): '\(path)' must be an absolute path") }
        guard !path.utf8.contains(0) else { throw .invalidArgument("failed to \(verb): the path holds a NUL byte") }
    }
}
