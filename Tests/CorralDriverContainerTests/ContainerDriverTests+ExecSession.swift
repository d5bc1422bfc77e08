import CorralCore
import CorralDriverContainer
import CorralHost
import Foundation
import Testing

extension ContainerDriverTests {
    /// Collects a session's output until its last event, bounded in time.
    private func drain(_ session: any ExecSession, seconds: Int = 20) async -> (stdout: String, stderr: String, last: ExecSessionEvent?) {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline, let event = await session.nextEvent() {
            switch event {
            case .stdout(let bytes): stdout += bytes
            case .stderr(let bytes): stderr += bytes
            case .exited, .failed: return (String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self), event)
            }
        }
        return (String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self), nil)
    }

    @Test func aPipedSessionStreamsInputAndKeepsStderrApart() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["sleep", "60"])
            let session = try await fixture.driver.startExecSession(uuid, handle: started.handle, request: InteractiveExecRequest(
                command: ["sh", "-c", "read line; echo got $line; echo $FOO >&2; cat; exit 6"], env: ["FOO": "bar"]))
            defer { session.close() }
            try await session.writeInput(Array("first\n".utf8))
            try await session.writeInput(Array("rest".utf8))
            session.closeInput()
            let (stdout, stderr, last) = await drain(session)
            #expect(stdout == "got first\nrest")
            #expect(stderr == "bar\n")
            #expect(last == .exited(6))
            #expect(await session.nextEvent() == nil)
            #expect(throws: CorralError.self) { try session.resize(TerminalSize(columns: 10, rows: 10)) }
        }
    }

    @Test func aTerminalSessionHasTheRequestedSizeAndFollowsResizes() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["sleep", "60"])
            let session = try await fixture.driver.startExecSession(uuid, handle: started.handle, request: InteractiveExecRequest(
                command: ["sh", "-c", "read go; stty size; read go; stty size; exit 2"], terminal: TerminalSize(columns: 91, rows: 17)))
            defer { session.close() }
            // The size is the requested one once the session is returned (crun sets it
            // only after the command started, so the command asks after a go-ahead).
            try await session.writeInput(Array("go\n".utf8))
            var seen = ""
            let deadline = ContinuousClock.now + .seconds(20)
            while !seen.contains("17 91\r\n"), ContinuousClock.now < deadline, case .stdout(let bytes)? = await session.nextEvent() {
                seen += String(decoding: bytes, as: UTF8.self)
            }
            #expect(seen.contains("17 91\r\n"))
            try session.resize(TerminalSize(columns: 120, rows: 40))
            try await session.writeInput(Array("go\n".utf8))
            let (rest, stderr, last) = await drain(session)
            #expect(rest.contains("40 120\r\n"))
            #expect(stderr.isEmpty)
            #expect(last == .exited(2))
        }
    }

    @Test func closingASessionKillsItsCommandAndAMissingCommandFails() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["sleep", "60"])
            let session = try await fixture.driver.startExecSession(uuid, handle: started.handle, request: InteractiveExecRequest(
                command: ["sh", "-c", "echo up; exec sleep 300"]))
            #expect(await session.nextEvent() == .stdout(Array("up\n".utf8)))
            #expect(fixture.cgroup(uuid).members().count == 2)
            session.close()
            #expect(await session.nextEvent() == nil)
            #expect(await eventually { fixture.cgroup(uuid).members().count == 1 })

            let missing = try await fixture.driver.startExecSession(uuid, handle: started.handle, request: InteractiveExecRequest(
                command: ["no-such-tool"]))
            defer { missing.close() }
            let (_, _, last) = await drain(missing)
            guard case .failed(let error)? = last else {
                Issue.record("expected a failure, got \(String(describing: last))")
                return
            }
            #expect(error.code == .invalidArgument)
            #expect(fixture.sink.reported(uuid).isEmpty)
        }
    }

    @Test func aSlowConsumerGetsAllTheOutputOfAnExitedCommand() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["sleep", "60"])
            let session = try await fixture.driver.startExecSession(uuid, handle: started.handle, request: InteractiveExecRequest(
                command: ["sh", "-c", "dd if=/dev/zero bs=65536 count=2 2>/dev/null; exit 6"]))
            defer { session.close() }
            // Taking a chunk every 1.1 s, longer than the whole drain time after the
            // exit: the command has exited long before the last of its output (in
            // the pipe and in flight) is taken, and none of it may be lost.
            var count = 0
            var last: ExecSessionEvent?
            for _ in 0..<100 {
                try await Task.sleep(for: .milliseconds(1100))
                guard let event = await session.nextEvent() else { break }
                switch event {
                case .stdout(let bytes): count += bytes.count
                case .stderr: break
                case .exited, .failed: last = event
                }
                if last != nil { break }
            }
            #expect(count == 2 << 16)
            #expect(last == .exited(6))
        }
    }
}
