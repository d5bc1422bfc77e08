import Testing

@testable import CorralAPI

@Suite struct ExecFrameTests {
    static let samples: [ExecFrame] = [
        .stdin(Array("echo hi\n".utf8)), .stdinClose, .resize(TerminalSizeDTO(cols: 132, rows: 43)), .signal(15),
        .stdout([0, 255, 10]), .stderr([]), .exit(3), .exit(-1), .error("failed to exec in instance: gone"),
    ]

    @Test func encodesTypeLengthAndPayloadBigEndian() {
        #expect(ExecFrame.stdin([0x61, 0x62]).encoded() == [0x01, 0, 0, 0, 2, 0x61, 0x62])
        #expect(ExecFrame.stdinClose.encoded() == [0x02, 0, 0, 0, 0])
        #expect(ExecFrame.resize(TerminalSizeDTO(cols: 0x0102, rows: 0x0304)).encoded() == [0x03, 0, 0, 0, 4, 1, 2, 3, 4])
        #expect(ExecFrame.signal(9).encoded() == [0x04, 0, 0, 0, 4, 0, 0, 0, 9])
        #expect(ExecFrame.exit(258).encoded() == [0x13, 0, 0, 0, 4, 0, 0, 1, 2])
        #expect(ExecFrame.stderr(Array(repeating: 7, count: 300)).encoded().prefix(5) == [0x12, 0, 0, 1, 44])
    }

    @Test func roundTripsEveryFrameWholeAndByteByByte() throws {
        let wire = Self.samples.flatMap { $0.encoded() }
        var whole = ExecFrameDecoder()
        whole.append(wire)
        var decoded: [ExecFrame] = []
        while let frame = try whole.next() { decoded.append(frame) }
        #expect(decoded == Self.samples)
        #expect(whole.pendingBytes == 0)

        var trickle = ExecFrameDecoder()
        decoded = []
        for byte in wire {
            trickle.append([byte])
            while let frame = try trickle.next() { decoded.append(frame) }
        }
        #expect(decoded == Self.samples)
    }

    @Test func keepsAPartialFrameUntilItIsComplete() throws {
        var decoder = ExecFrameDecoder()
        let wire = ExecFrame.stdout(Array("abcdef".utf8)).encoded()
        decoder.append(wire.prefix(7))
        #expect(try decoder.next() == nil)
        #expect(decoder.pendingBytes == 7)
        decoder.append(wire.dropFirst(7))
        #expect(try decoder.next() == .stdout(Array("abcdef".utf8)))
    }

    @Test func refusesUnknownTypesOversizedAndMisshapenFrames() {
        var unknown = ExecFrameDecoder()
        unknown.append([0x7f, 0, 0, 0, 0])
        #expect(throws: ExecFrameError("unknown frame type 0x7f")) { try unknown.next() }

        var huge = ExecFrameDecoder()
        huge.append([0x01, 0, 0x10, 0, 1])
        #expect(throws: ExecFrameError.self) { try huge.next() }

        var shortExit = ExecFrameDecoder()
        shortExit.append([0x13, 0, 0, 0, 2, 0, 1])
        #expect(throws: ExecFrameError("exit frame carries 2 bytes, expected 4")) { try shortExit.next() }

        var closeWithBytes = ExecFrameDecoder()
        closeWithBytes.append([0x02, 0, 0, 0, 1, 9])
        #expect(throws: ExecFrameError.self) { try closeWithBytes.next() }
    }

    @Test func splitsLargeStdinIntoFramesThatFit() {
        let bytes = (0..<(ExecFrame.maximumPayload * 2 + 5)).map { UInt8(truncatingIfNeeded: $0) }
        let frames = ExecFrame.frames(stdin: bytes)
        #expect(frames.count == 3)
        let joined = frames.flatMap { frame -> [UInt8] in
            guard case .stdin(let chunk) = frame else { return [] }
            return chunk
        }
        #expect(joined == bytes)
        #expect(ExecFrame.frames(stdin: []).isEmpty)
    }
}

@Suite struct ExecAttachQueryTests {
    @Test func roundTripsThroughQueryItems() throws {
        let query = ExecAttachQuery(
            command: ["sh", "-c", "echo a=b & x"], env: ["B": "2", "A": "x=y"], cwd: "/tmp",
            terminal: TerminalSizeDTO(cols: 100, rows: 30))
        #expect(try ExecAttachQuery(items: query.items) == query)
        let plain = ExecAttachQuery(command: ["cat"])
        #expect(plain.items.map(\.0) == ["command"])
        #expect(try ExecAttachQuery(items: plain.items) == plain)
    }

    @Test func aTerminalWithoutASizeIsEightyByTwentyFour() throws {
        let query = try ExecAttachQuery(items: [("command", "sh"), ("tty", "1")])
        #expect(query.terminal == TerminalSizeDTO(cols: 80, rows: 24))
    }

    @Test(arguments: [
        ([("tty", "1")], "invalid query 'command': required: one 'command' item per argument"),
        ([("command", "sh"), ("shell", "1")], "invalid query 'shell': unknown query parameter"),
        ([("command", "sh"), ("env", "NOVALUE")], "invalid query 'env': 'NOVALUE' is not KEY=VALUE"),
        ([("command", "sh"), ("tty", "yes")], "invalid query 'tty': 'yes' is not 0 or 1"),
        ([("command", "sh"), ("tty", "1"), ("cols", "0"), ("rows", "5")], "invalid query 'cols': '0' is not a number from 1 to 65535"),
        ([("command", "sh"), ("tty", "1"), ("cols", "80")], "invalid query 'rows': required with the other dimension"),
        ([("command", "sh"), ("rows", "5")], "invalid query 'rows': only allowed with tty=1"),
        ([("command", "sh"), ("cwd", "/"), ("cwd", "/tmp")], "invalid query 'cwd': given more than once"),
    ])
    func refusesABadQueryNamingTheParameter(items: [(String, String)], message: String) {
        #expect(throws: WireQueryError.self) { try ExecAttachQuery(items: items) }
        do {
            _ = try ExecAttachQuery(items: items)
        } catch {
            #expect(error.description == message)
        }
    }
}
