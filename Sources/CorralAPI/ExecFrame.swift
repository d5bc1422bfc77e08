/// One frame of an interactive exec stream (`POST /v1/instances/{id}/exec/attach`).
///
/// On the wire a frame is a type byte, the payload's length as a 4-byte
/// big-endian unsigned integer, then the payload. The client sends `stdin`,
/// `stdinClose`, `resize` and `signal`; the server sends `stdout`, `stderr`
/// (only without a terminal), `error`, and `exit` as its last frame.
public enum ExecFrame: Sendable, Equatable {
    /// Bytes for the command's standard input (or typed at its terminal).
    case stdin([UInt8])
    /// The client's standard input ended: the command sees end of file (without
    /// a terminal) or an end-of-file character (with one).
    case stdinClose
    /// The client's terminal now has this size.
    case resize(TerminalSizeDTO)
    /// Deliver signal number `n` to the command.
    case signal(Int32)
    /// Output of the command (all of it, with a terminal).
    case stdout([UInt8])
    /// Standard error of a command run without a terminal.
    case stderr([UInt8])
    /// The command ended with this code (128 + n when killed by signal n); nothing follows.
    case exit(Int32)
    /// The exchange failed after it had started; a UTF-8 message. `exit` does not follow.
    case error(String)

    /// The type byte of each frame, chosen once.
    public enum Kind: UInt8, Sendable, CaseIterable {
        case stdin = 0x01
        case stdinClose = 0x02
        case resize = 0x03
        case signal = 0x04
        case stdout = 0x11
        case stderr = 0x12
        case exit = 0x13
        case error = 0x14
    }

    /// The largest payload a frame may carry.
    public static let maximumPayload = 1 << 20
    /// Type byte plus length.
    public static let headerSize = 5

    public var kind: Kind {
        switch self {
        case .stdin: .stdin
        case .stdinClose: .stdinClose
        case .resize: .resize
        case .signal: .signal
        case .stdout: .stdout
        case .stderr: .stderr
        case .exit: .exit
        case .error: .error
        }
    }

    /// The frame as it goes on the wire. Byte payloads longer than
    /// `maximumPayload` must be split by the caller (see `frames(stdin:)`).
    public func encoded() -> [UInt8] {
        let payload: [UInt8] = switch self {
        case .stdin(let bytes), .stdout(let bytes), .stderr(let bytes): bytes
        case .stdinClose: []
        case .resize(let size): Self.bigEndian(UInt32(size.cols) << 16 | UInt32(size.rows))
        case .signal(let number), .exit(let number): Self.bigEndian(UInt32(bitPattern: number))
        case .error(let message): Array(message.utf8.prefix(Self.maximumPayload))
        }
        return [kind.rawValue] + Self.bigEndian(UInt32(payload.count)) + payload
    }

    /// `bytes` as `stdin` frames of at most `maximumPayload` bytes each.
    public static func frames(stdin bytes: [UInt8]) -> [ExecFrame] {
        stride(from: 0, to: bytes.count, by: maximumPayload).map {
            .stdin(Array(bytes[$0..<min($0 + maximumPayload, bytes.count)]))
        }
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }
}

/// A terminal's size in character cells.
public struct TerminalSizeDTO: Sendable, Equatable, Hashable {
    public var cols: UInt16
    public var rows: UInt16

    public init(cols: UInt16, rows: UInt16) {
        self.cols = cols
        self.rows = rows
    }
}
