import CorralAgentProtocol
import Foundation
import Glibc
import Testing

/// Drives the built `corral-agent serve` over a unix socket, the way the vm driver
/// drives it over the virtio-serial chardev.
@Suite(.serialized) struct AgentServeTests {
    @Test func execReturnsBothStreamsAndTheExitCode() throws {
        let agent = try AgentProcess.start()
        let reply = try agent.request(.exec(ExecRequest(argv: ["sh", "-c", "echo out; echo err >&2; exit 3"])))
        #expect(reply == .execResult(ExecResult(termination: .exited(3), stdout: Array("out\n".utf8), stderr: Array("err\n".utf8))))
    }

    @Test func execAppliesEnvironmentAndWorkingDirectory() throws {
        let agent = try AgentProcess.start()
        let directory = try TemporaryDirectory()
        let reply = try agent.request(
            .exec(
                ExecRequest(
                    argv: ["sh", "-c", "printf '%s|%s' \"$GREETING\" \"$(pwd)\""], environment: ["GREETING=hello world"],
                    workingDirectory: directory.path)))
        #expect(reply == .execResult(ExecResult(termination: .exited(0), stdout: Array("hello world|\(directory.path)".utf8))))
    }

    @Test func execDeliversStdin() throws {
        let agent = try AgentProcess.start()
        let input = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let reply = try agent.request(.exec(ExecRequest(argv: ["cat"], stdin: input)))
        #expect(reply == .execResult(ExecResult(termination: .exited(0), stdout: input)))
    }

    @Test func execTimeoutKillsTheProcessGroup() throws {
        let agent = try AgentProcess.start()
        let started = ContinuousClock.now
        let reply = try agent.request(
            .exec(ExecRequest(argv: ["sh", "-c", "sleep 30 & echo started; sleep 30"], timeoutMilliseconds: 300)))
        let elapsed = ContinuousClock.now - started
        guard case .execResult(let result) = reply else {
            Issue.record("expected execResult, got \(reply)")
            return
        }
        #expect(result.timedOut)
        #expect(result.termination == .signaled(SIGKILL))
        #expect(result.stdout == Array("started\n".utf8))
        #expect(elapsed < .seconds(5))
    }

    @Test func execOfAMissingCommandIsAnError() throws {
        let agent = try AgentProcess.start()
        let reply = try agent.request(.exec(ExecRequest(argv: ["corral-no-such-command"])))
        guard case .error(let message) = reply else {
            Issue.record("expected error, got \(reply)")
            return
        }
        #expect(message.contains("failed to exec corral-no-such-command"))
    }

    @Test func writtenFileReadsBackWithItsMode() throws {
        let agent = try AgentProcess.start()
        let directory = try TemporaryDirectory()
        let path = directory.path + "/data.bin"
        let contents = (0..<70_000).map { UInt8(truncatingIfNeeded: $0) }
        #expect(try agent.request(.writeFile(WriteFileRequest(path: path, mode: 0o640, contents: contents))) == .ok)
        #expect(try agent.request(.readFile(path: path)) == .fileData(contents))
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o7777 == 0o640)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["data.bin"])
        guard case .error(let message) = try agent.request(.readFile(path: directory.path + "/missing")) else {
            Issue.record("reading a missing file must fail")
            return
        }
        #expect(message.contains("No such file"))
    }

    @Test func metricsArePlausible() throws {
        let agent = try AgentProcess.start()
        guard case .metrics(let metrics) = try agent.request(.metricsRequest) else {
            Issue.record("expected metrics")
            return
        }
        #expect(metrics.memoryTotalKiB > 16 * 1024)
        #expect(metrics.memoryAvailableKiB > 0)
        #expect(metrics.memoryAvailableKiB <= metrics.memoryTotalKiB)
        #expect(metrics.cpuUserTicks + metrics.cpuSystemTicks + metrics.cpuIdleTicks > 0)
        #expect(metrics.ticksPerSecond > 0)
    }

    @Test func malformedFramesGetErrorsAndServingContinues() throws {
        let agent = try AgentProcess.start()
        // A well-framed exec with an empty argv: answered under its own id.
        try agent.send(AgentFrame(type: AgentMessageType.exec.rawValue, requestID: 41, payload: []).encoded())
        let (first, firstID) = try agent.receive()
        #expect(firstID == 41)
        #expect(first == .error("failed to decode message: exec: argv is empty"))
        // An unknown type.
        try agent.send(AgentFrame(type: 200, requestID: 42, payload: []).encoded())
        #expect(try agent.receive() == (.error("failed to decode message: unknown message type 200"), 42))
        // Bytes that are no frame at all, then a frame with a bad version: id 0 errors.
        try agent.send(Array("not a frame".utf8))
        #expect(try agent.receive() == (.error("failed to decode frame: bad magic, 11 byte(s) skipped"), 0))
        var badVersion = AgentMessage.metricsRequest.encoded(requestID: 43)
        badVersion[4] = 9
        try agent.send(badVersion)
        let (versionError, versionID) = try agent.receive()
        #expect(versionID == 0)
        #expect(versionError == .error("failed to decode frame: unsupported protocol version 9 (expected 1)"))
        // A request the host should never send.
        #expect(try agent.request(.ok).isError)
        // Still serving.
        let reply = try agent.request(.exec(ExecRequest(argv: ["echo", "alive"])))
        #expect(reply == .execResult(ExecResult(termination: .exited(0), stdout: Array("alive\n".utf8))))
    }

    @Test func shutdownEndsServeMode() throws {
        let agent = try AgentProcess.start()
        #expect(try agent.request(.shutdown(graceMilliseconds: 100)) == .ok)
        agent.process.waitUntilExit()
        #expect(agent.process.terminationStatus == 0)
    }

    @Test func initRefusesWhenNotPID1() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try AgentProcess.binaryPath())
        process.arguments = ["init"]
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 2)
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("refusing to run: not PID 1"))
    }
}

extension AgentMessage {
    var isError: Bool {
        if case .error = self { return true }
        return false
    }
}

struct AgentTestError: Error, CustomStringConvertible {
    let description: String
}

final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/corral-agent-test-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { throw AgentTestError(description: "mkdtemp failed") }
        path = String(cString: created)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A `corral-agent serve --socket` child and the host's end of its channel.
final class AgentProcess {
    let process = Process()
    let directory: TemporaryDirectory
    private var fd: Int32 = -1
    private var decoder = AgentFrameDecoder()
    private var nextID: UInt32 = 1

    /// `corral-agent` beside the test bundle, in the same build directory.
    static func binaryPath() throws -> String {
        var url = Bundle.main.bundleURL
        if url.pathExtension == "xctest" { url.deleteLastPathComponent() }
        for candidate in [url, Bundle.main.bundleURL.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("corral-agent").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw AgentTestError(description: "corral-agent not built next to the tests in \(url.path)")
    }

    static func start() throws -> AgentProcess {
        let agent = try AgentProcess(directory: TemporaryDirectory())
        try agent.launch()
        return agent
    }

    private init(directory: TemporaryDirectory) {
        self.directory = directory
    }

    private func launch() throws {
        let socketPath = directory.path + "/agent.sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw AgentTestError(description: "socket failed") }
        defer { close(listener) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in socketPath.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(listener, 1) == 0 else { throw AgentTestError(description: "bind/listen failed") }
        process.executableURL = URL(fileURLWithPath: try Self.binaryPath())
        process.arguments = ["serve", "--socket", socketPath]
        try process.run()
        var pending = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&pending, 1, 10_000) == 1 else { throw AgentTestError(description: "agent did not connect") }
        fd = accept(listener, nil, nil)
        guard fd >= 0 else { throw AgentTestError(description: "accept failed") }
        let (ready, id) = try receive()
        guard case .ready(let info) = ready, id == 0 else {
            throw AgentTestError(description: "expected ready, got \(ready)")
        }
        guard info.agentVersion.hasPrefix("corral-agent"), info.bootClockNanoseconds > 0 else {
            throw AgentTestError(description: "implausible ready \(info)")
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + offset }, $0.count - offset) }
            guard count > 0 else { throw AgentTestError(description: "write to agent failed: \(errno)") }
            offset += count
        }
    }

    /// The next message from the agent, waiting at most 20 s.
    func receive() throws -> (AgentMessage, UInt32) {
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            if let frame = try decoder.next() { return (try AgentMessage(frame: frame), frame.requestID) }
            var pending = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard ContinuousClock.now < deadline, poll(&pending, 1, 1000) >= 0 else {
                throw AgentTestError(description: "timed out waiting for the agent")
            }
            if pending.revents == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { throw AgentTestError(description: "agent closed the channel") }
            decoder.append(chunk[0..<count])
        }
    }

    /// Sends `message` under a fresh id and returns the reply carrying that id.
    func request(_ message: AgentMessage) throws -> AgentMessage {
        let id = nextID
        nextID += 1
        try send(message.encoded(requestID: id))
        let (reply, replyID) = try receive()
        guard replyID == id else { throw AgentTestError(description: "reply id \(replyID), expected \(id)") }
        return reply
    }
}
