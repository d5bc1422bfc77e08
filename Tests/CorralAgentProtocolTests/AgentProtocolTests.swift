import Testing

@testable import CorralAgentProtocol

/// Every message type, with non-trivial payloads.
let sampleMessages: [AgentMessage] = [
    .ready(AgentReady(agentVersion: "corral-agent 1", bootClockNanoseconds: 1_234_567_890_123)),
    .exec(
        ExecRequest(
            argv: ["sh", "-c", "echo ünïcode; exit 3"], environment: ["A=1", "EMPTY="], workingDirectory: "/tmp",
            stdin: [0, 1, 2, 255], timeoutMilliseconds: 1500)),
    .exec(ExecRequest(argv: ["true"])),
    .execResult(ExecResult(termination: .exited(3), stdout: Array("out\n".utf8), stderr: Array("err\n".utf8))),
    .execResult(ExecResult(termination: .signaled(9), timedOut: true, outputTruncated: true)),
    .execResult(ExecResult(termination: .exited(-1))),
    .readFile(path: "/etc/hostname"),
    .fileData(Array(0...255)),
    .fileData([]),
    .writeFile(WriteFileRequest(path: "/tmp/x", mode: 0o4755, contents: [1, 2, 3])),
    .ok,
    .metricsRequest,
    .metrics(
        GuestMetrics(
            memoryTotalKiB: 1_000_000, memoryAvailableKiB: 500_000, cpuUserTicks: UInt64.max, cpuSystemTicks: 2,
            cpuIdleTicks: 3, ticksPerSecond: 100)),
    .shutdown(graceMilliseconds: 5000),
    .workloadExited(.exited(0)),
    .workloadExited(.signaled(15)),
    .error("failed to exec nope: execve nope: No such file or directory"),
    .configure(
        GuestConfig(
            workload: WorkloadSpec(argv: ["sh", "-c", "echo hi"], environment: ["A=1"], workingDirectory: "/srv"),
            uid: 1000, gid: 100, groups: [10, 4_000_000_000], hostname: "web-1", rootDevice: "/dev/vda",
            rootFileSystem: "ext4",
            network: GuestNetwork(
                mac: "52:54:00:12:34:56", address: "10.88.0.5", prefixLength: 16, gateway: "10.88.0.1",
                nameservers: ["1.1.1.1", "9.9.9.9"]),
            volumes: [
                GuestVolume(device: "/dev/vdb", mountPoint: "/data", fileSystem: "ext4", readOnly: true),
                GuestVolume(device: "/dev/vdc", mountPoint: "/scratch", fileSystem: "ext4"),
            ])),
    .configure(GuestConfig(workload: WorkloadSpec(argv: ["true"]), hostname: "minimal")),
    .sessionStart(
        SessionStartRequest(
            session: 7, argv: ["sh", "-i"], environment: ["TERM=xterm"], workingDirectory: "/root",
            terminal: SessionTerminalSize(columns: 132, rows: 43))),
    .sessionStart(SessionStartRequest(session: UInt32.max, argv: ["cat"])),
    .sessionInput(session: 7, bytes: Array("echo $((6*7))\n".utf8)),
    .sessionInput(session: 8, bytes: []),
    .sessionCloseInput(session: 7),
    .sessionResize(session: 7, size: SessionTerminalSize(columns: UInt16.max, rows: 1)),
    .sessionSignal(session: 7, signal: 15),
    .sessionClose(session: 9),
    .sessionWindow(session: 7, bytes: 65536),
    .sessionOutput(session: 7, stream: 1, bytes: Array(0...255)),
    .sessionOutput(session: 7, stream: 2, bytes: Array("oops\n".utf8)),
    .sessionExited(session: 7, code: 3),
    .sessionExited(session: 8, code: 137),
]

@Suite struct AgentProtocolTests {
    @Test func everyMessageTypeIsCoveredBySamples() {
        let covered = Set(sampleMessages.map(\.type))
        #expect(covered == Set(AgentMessageType.allCases))
    }

    @Test func sessionMessagesRejectBadFields() throws {
        var stream = AgentPayloadWriter()
        stream.int(AgentMessage.Tag.session, 1)
        stream.int(AgentMessage.Tag.stream, 3)
        let badStream = AgentFrame(type: AgentMessageType.sessionOutput.rawValue, requestID: 1, payload: stream.bytes)
        #expect(throws: AgentProtocolError.self) { try AgentMessage(frame: badStream) }
        var noArgv = AgentPayloadWriter()
        noArgv.int(AgentMessage.Tag.session, 1)
        let emptyStart = AgentFrame(type: AgentMessageType.sessionStart.rawValue, requestID: 1, payload: noArgv.bytes)
        #expect(throws: AgentProtocolError.self) { try AgentMessage(frame: emptyStart) }
        var bigSession = AgentPayloadWriter()
        bigSession.int(AgentMessage.Tag.session, 1 << 40)
        let outOfRange = AgentFrame(type: AgentMessageType.sessionClose.rawValue, requestID: 1, payload: bigSession.bytes)
        #expect(throws: AgentProtocolError.self) { try AgentMessage(frame: outOfRange) }
    }

    @Test(arguments: sampleMessages)
    func messageRoundTrips(_ message: AgentMessage) throws {
        var decoder = AgentFrameDecoder()
        decoder.append(message.encoded(requestID: 0xDEAD_BEEF))
        let frame = try #require(try decoder.next())
        #expect(frame.requestID == 0xDEAD_BEEF)
        #expect(frame.type == message.type.rawValue)
        #expect(try AgentMessage(frame: frame) == message)
        #expect(try decoder.next() == nil)
        #expect(decoder.bufferedCount == 0)
    }

    @Test func headerLayoutIsBigEndian() {
        let bytes = AgentMessage.fileData([0xAA]).encoded(requestID: 0x0102_0304)
        #expect(Array(bytes[0..<4]) == Array("CRAL".utf8))
        #expect(bytes[4] == 1)
        #expect(bytes[5] == AgentMessageType.fileData.rawValue)
        #expect(Array(bytes[6..<10]) == [1, 2, 3, 4])
        // Payload: one field, tag 15, length 1, value 0xAA.
        #expect(Array(bytes[10..<14]) == [0, 0, 0, 6])
        #expect(Array(bytes[14...]) == [15, 0, 0, 0, 1, 0xAA])
    }

    @Test func randomSplitsOfAStreamDecodeToTheSameMessages() throws {
        var generator = SplitMix(seed: 42)
        var stream: [UInt8] = []
        for (index, message) in sampleMessages.enumerated() {
            stream += message.encoded(requestID: UInt32(index))
        }
        for _ in 0..<200 {
            var decoder = AgentFrameDecoder()
            var decoded: [AgentMessage] = []
            var ids: [UInt32] = []
            var offset = 0
            while offset < stream.count {
                let size = Int(generator.next() % 40) + (generator.next() % 8 == 0 ? 0 : 1)
                let end = min(stream.count, offset + size)
                decoder.append(stream[offset..<end])
                offset = end
                while let frame = try decoder.next() {
                    decoded.append(try AgentMessage(frame: frame))
                    ids.append(frame.requestID)
                }
            }
            #expect(decoded == sampleMessages)
            #expect(ids == Array(0..<UInt32(sampleMessages.count)))
        }
    }

    @Test func badMagicIsReportedOnceAndTheDecoderResynchronises() throws {
        var decoder = AgentFrameDecoder()
        decoder.append(Array("garbage!".utf8) + [0x43, 0x52] + AgentMessage.ok.encoded(requestID: 7))
        #expect(throws: AgentProtocolError.badMagic(skipped: 10)) { try decoder.next() }
        let frame = try #require(try decoder.next())
        #expect(frame.requestID == 7)
        #expect(try AgentMessage(frame: frame) == .ok)
    }

    @Test func aPartialMagicAtTheEndWaitsForMoreBytes() throws {
        var decoder = AgentFrameDecoder()
        let frame = AgentMessage.metricsRequest.encoded(requestID: 3)
        decoder.append([0x00] + frame[0..<3])
        #expect(throws: AgentProtocolError.badMagic(skipped: 1)) { try decoder.next() }
        #expect(try decoder.next() == nil)
        decoder.append(frame[3...])
        #expect(try decoder.next()?.requestID == 3)
    }

    @Test func unsupportedVersionIsRejectedAndSkipped() throws {
        var bad = AgentMessage.ok.encoded(requestID: 1)
        bad[4] = 2
        var decoder = AgentFrameDecoder()
        decoder.append(bad + AgentMessage.ok.encoded(requestID: 2))
        #expect(throws: AgentProtocolError.unsupportedVersion(2)) { try decoder.next() }
        #expect(try decoder.next()?.requestID == 2)
    }

    @Test func aBadRunArrivingInPiecesIsReportedOnce() throws {
        var decoder = AgentFrameDecoder()
        decoder.append(Array("xxxx".utf8))
        #expect(throws: AgentProtocolError.badMagic(skipped: 4)) { try decoder.next() }
        decoder.append(Array("yyyyCR".utf8))
        #expect(try decoder.next() == nil)
        decoder.append(Array("z".utf8) + AgentMessage.ok.encoded(requestID: 5))
        #expect(try decoder.next()?.requestID == 5)
        // After a good frame, new garbage is a new bad run.
        decoder.append([0])
        #expect(throws: AgentProtocolError.badMagic(skipped: 1)) { try decoder.next() }
    }

    @Test func oversizedPayloadIsRejectedBeforeItArrives() throws {
        var decoder = AgentFrameDecoder(payloadLimit: 16)
        decoder.append(AgentMessage.fileData(Array(repeating: 1, count: 17)).encoded(requestID: 1).prefix(14))
        #expect(throws: AgentProtocolError.payloadTooLarge(length: 22, limit: 16)) { try decoder.next() }

        var standard = AgentFrameDecoder()
        var header = AgentFrame(type: AgentMessageType.fileData.rawValue, requestID: 1, payload: []).encoded()
        header.replaceSubrange(10..<14, with: [0x01, 0x00, 0x00, 0x01])  // 16 MiB + 1
        standard.append(header)
        #expect(throws: AgentProtocolError.payloadTooLarge(length: (16 << 20) + 1, limit: 16 << 20)) {
            try standard.next()
        }
    }

    @Test func unknownTypeAndMalformedPayloadsAreMessageErrors() throws {
        #expect(throws: AgentProtocolError.unknownMessageType(99)) {
            try AgentMessage(frame: AgentFrame(type: 99, requestID: 1, payload: []))
        }
        let exec = AgentMessageType.exec.rawValue
        #expect(throws: AgentProtocolError.malformedPayload("exec: argv is empty")) {
            try AgentMessage(frame: AgentFrame(type: exec, requestID: 1, payload: []))
        }
        // A field announcing more bytes than there are.
        #expect(throws: AgentProtocolError.self) {
            try AgentMessage(frame: AgentFrame(type: exec, requestID: 1, payload: [3, 0, 0, 0, 9, 65]))
        }
        // Invalid UTF-8 in argv.
        #expect(throws: AgentProtocolError.malformedPayload("exec: field argv is not valid UTF-8")) {
            try AgentMessage(frame: AgentFrame(type: exec, requestID: 1, payload: [3, 0, 0, 0, 1, 0xFF]))
        }
        // A truncated field header.
        #expect(throws: AgentProtocolError.self) {
            try AgentMessage(frame: AgentFrame(type: AgentMessageType.readFile.rawValue, requestID: 1, payload: [14, 0]))
        }
    }

    @Test func unknownFieldsAreIgnored() throws {
        var payload = AgentMessage.readFile(path: "/x").payload()
        payload += [200, 0, 0, 0, 2, 7, 7]
        let message = try AgentMessage(
            frame: AgentFrame(type: AgentMessageType.readFile.rawValue, requestID: 1, payload: payload))
        #expect(message == .readFile(path: "/x"))
    }

    @Test func randomCorruptionNeverCrashesAndLaterFramesSurvive() throws {
        var generator = SplitMix(seed: 7)
        let good = sampleMessages.enumerated().flatMap { $1.encoded(requestID: UInt32($0)) }
        for _ in 0..<300 {
            var stream = good
            for _ in 0..<Int(generator.next() % 6) {
                let index = Int(generator.next() % UInt64(stream.count))
                stream[index] = UInt8(truncatingIfNeeded: generator.next())
            }
            let sentinel = AgentMessage.error("sentinel").encoded(requestID: 0xFFFF_FFFF)
            stream += sentinel
            var decoder = AgentFrameDecoder()
            decoder.append(stream)
            var frames: [AgentFrame] = []
            var rounds = 0
            while rounds < 10_000 {
                rounds += 1
                do {
                    guard let frame = try decoder.next() else { break }
                    frames.append(frame)
                    _ = try? AgentMessage(frame: frame)
                } catch {}
            }
            #expect(rounds < 10_000)
            // A corrupted length may swallow the sentinel; otherwise it must come through intact.
            if let last = frames.last, last.requestID == 0xFFFF_FFFF {
                #expect(try AgentMessage(frame: last) == .error("sentinel"))
            }
        }
    }

    @Test func workloadSpecTravelsOnTheKernelCommandLine() throws {
        let spec = WorkloadSpec(argv: ["sh", "-c", "echo hi there"], environment: ["A=b c"], workingDirectory: "/srv")
        let cmdline = "console=ttyS0 quiet \(spec.kernelParameter()) panic=-1\n"
        #expect(try WorkloadSpec.source(kernelCommandLine: cmdline) == .inline(spec))
        #expect(try WorkloadSpec.source(kernelCommandLine: "console=ttyS0") == .file(WorkloadSpec.defaultPath))
        #expect(try WorkloadSpec.source(kernelCommandLine: "corral.config=/run/w.spec") == .file("/run/w.spec"))
        #expect(try WorkloadSpec(encoded: spec.encoded()) == spec)
        #expect(throws: AgentProtocolError.self) { try WorkloadSpec.source(kernelCommandLine: "corral.spec=abc") }
        #expect(throws: AgentProtocolError.self) { try WorkloadSpec.source(kernelCommandLine: "corral.spec=zz") }
        #expect(throws: AgentProtocolError.self) { try WorkloadSpec(encoded: []) }
    }
}

/// A small deterministic generator so failures reproduce.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
