import CorralAgentProtocol
import CorralCore
import CorralHost
import Foundation
import Testing

@testable import CorralDriverVM

#if canImport(Glibc)
import Glibc
#endif

/// Session routing in the host's agent client, against a socket pair standing in
/// for the agent: events reach their session, a dropped channel fails it.
struct AgentClientSessionTests {
    @Test func sessionEventsArriveInOrderAndADroppedChannelFailsTheSession() async throws {
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
        let watcher = try DescriptorWatcher(name: "agent-session-test")
        defer { watcher.shutdown() }
        let client = try AgentClient(fd: pair[0], path: "pair", watcher: watcher) { _ in true }
        let agentEnd = pair[1]
        defer { close(agentEnd) }
        let first = client.registerSession { VMExecSession(id: $0, terminal: false, agent: client) }
        let second = client.registerSession { VMExecSession(id: $0, terminal: true, agent: client) }
        #expect(first.id != second.id)

        let frames = AgentMessage.sessionOutput(session: first.id, stream: 1, bytes: Array("out".utf8))
            .encoded(requestID: AgentSession.eventRequestID)
            + AgentMessage.sessionOutput(session: first.id, stream: 2, bytes: Array("err".utf8))
            .encoded(requestID: AgentSession.eventRequestID)
            + AgentMessage.sessionExited(session: first.id, code: 3).encoded(requestID: AgentSession.eventRequestID)
        #expect(frames.withUnsafeBytes { write(agentEnd, $0.baseAddress, $0.count) } == frames.count)
        #expect(await first.nextEvent() == .stdout(Array("out".utf8)))
        #expect(await first.nextEvent() == .stderr(Array("err".utf8)))
        #expect(await first.nextEvent() == .exited(3))
        #expect(await first.nextEvent() == nil)

        // The host asks the agent to resize the terminal: a framed sessionResize.
        try second.resize(TerminalSize(columns: 90, rows: 20))
        var decoder = AgentFrameDecoder()
        var chunk = [UInt8](repeating: 0, count: 4096)
        var readable = pollfd(fd: agentEnd, events: Int16(POLLIN), revents: 0)
        #expect(poll(&readable, 1, 5000) == 1)
        let count = chunk.withUnsafeMutableBytes { read(agentEnd, $0.baseAddress, $0.count) }
        decoder.append(chunk[0..<max(count, 0)])
        let frame = try #require(try decoder.next())
        #expect(try AgentMessage(frame: frame) == .sessionResize(session: second.id, size: SessionTerminalSize(columns: 90, rows: 20)))

        shutdown(agentEnd, Int32(SHUT_RDWR))
        if case .failed(let error)? = await second.nextEvent() {
            #expect(error.code == .unavailable, "\(error)")
        } else {
            Issue.record("a dropped channel did not fail the session")
        }
        #expect(await second.nextEvent() == nil)
        do throws(CorralError) {
            try second.resize(TerminalSize(columns: 1, rows: 1))
            Issue.record("a failed session accepted a resize")
        } catch {
            #expect(error.code == .invalidState)
        }
    }
}
