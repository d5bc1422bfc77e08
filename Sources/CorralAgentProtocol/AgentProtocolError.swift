/// Why bytes from the agent channel could not be turned into a message.
///
/// Framing errors (`badMagic`, `unsupportedVersion`, `payloadTooLarge`) are thrown by
/// `AgentFrameDecoder`, which has already resynchronised: the next call to `next()`
/// continues with the bytes after the rejected header. Message errors
/// (`unknownMessageType`, `malformedPayload`) concern one complete frame and leave
/// the stream intact.
public enum AgentProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Bytes that do not start a frame were discarded.
    case badMagic(skipped: Int)
    /// A frame announced a protocol version this side does not speak.
    case unsupportedVersion(UInt8)
    /// A frame announced a payload larger than the decoder's limit.
    case payloadTooLarge(length: UInt32, limit: UInt32)
    /// A well-framed message of a type this side does not know.
    case unknownMessageType(UInt8)
    /// A well-framed message whose payload does not decode.
    case malformedPayload(String)

    public var description: String {
        switch self {
        case .badMagic(let skipped):
            "failed to decode frame: bad magic, \(skipped) byte(s) skipped"
        case .unsupportedVersion(let version):
            "failed to decode frame: unsupported protocol version \(version) (expected \(AgentFrame.version))"
        case .payloadTooLarge(let length, let limit):
            "failed to decode frame: payload of \(length) bytes exceeds the limit of \(limit)"
        case .unknownMessageType(let type):
            "failed to decode message: unknown message type \(type)"
        case .malformedPayload(let reason):
            "failed to decode message: \(reason)"
        }
    }
}
