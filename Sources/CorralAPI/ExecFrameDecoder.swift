/// Why bytes are not a valid exec frame stream.
public struct ExecFrameError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Splits a byte stream into `ExecFrame`s, whatever the chunking of the bytes.
///
/// Append bytes as they arrive and take frames until `next()` returns nil; a
/// partial frame stays buffered. After an error the stream cannot be resynced.
public struct ExecFrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    /// Bytes buffered that do not form a whole frame yet.
    public var pendingBytes: Int { buffer.count - start }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 0, start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole frame, or nil when more bytes are needed.
    ///
    /// - Throws: `ExecFrameError` for an unknown type byte, a payload larger than
    ///   `ExecFrame.maximumPayload`, or a fixed-size payload of the wrong size.
    public mutating func next() throws(ExecFrameError) -> ExecFrame? {
        guard buffer.count - start >= ExecFrame.headerSize else { return nil }
        let type = buffer[start]
        guard let kind = ExecFrame.Kind(rawValue: type) else {
            throw ExecFrameError("unknown frame type 0x\(String(type, radix: 16))")
        }
        let length = Int(readUInt32(at: start + 1))
        guard length <= ExecFrame.maximumPayload else {
            throw ExecFrameError("frame of \(length) bytes is larger than the \(ExecFrame.maximumPayload) allowed")
        }
        guard buffer.count - start - ExecFrame.headerSize >= length else { return nil }
        let payloadStart = start + ExecFrame.headerSize
        let payload = Array(buffer[payloadStart..<payloadStart + length])
        let frame = try Self.frame(kind, payload)
        start = payloadStart + length
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        return frame
    }

    private static func frame(_ kind: ExecFrame.Kind, _ payload: [UInt8]) throws(ExecFrameError) -> ExecFrame {
        switch kind {
        case .stdin: return .stdin(payload)
        case .stdout: return .stdout(payload)
        case .stderr: return .stderr(payload)
        case .error: return .error(String(decoding: payload, as: UTF8.self))
        case .stdinClose:
            guard payload.isEmpty else { throw ExecFrameError("stdin-close frame carries \(payload.count) bytes, expected none") }
            return .stdinClose
        case .resize, .signal, .exit:
            guard payload.count == 4 else {
                throw ExecFrameError("\(kind) frame carries \(payload.count) bytes, expected 4")
            }
            let value = UInt32(payload[0]) << 24 | UInt32(payload[1]) << 16 | UInt32(payload[2]) << 8 | UInt32(payload[3])
            switch kind {
            case .resize: return .resize(TerminalSizeDTO(cols: UInt16(value >> 16), rows: UInt16(value & 0xffff)))
            case .signal: return .signal(Int32(bitPattern: value))
            default: return .exit(Int32(bitPattern: value))
            }
        }
    }

    private func readUInt32(at index: Int) -> UInt32 {
        UInt32(buffer[index]) << 24 | UInt32(buffer[index + 1]) << 16 | UInt32(buffer[index + 2]) << 8 | UInt32(buffer[index + 3])
    }
}
