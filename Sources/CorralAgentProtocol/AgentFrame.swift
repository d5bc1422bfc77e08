/// One unit on the agent channel.
///
/// Wire layout, all integers big-endian:
///
/// ```
/// offset size field
///      0    4 magic "CRAL" (0x43 0x52 0x41 0x4C)
///      4    1 version (1)
///      5    1 message type (`AgentMessageType`)
///      6    4 request id
///     10    4 payload length (at most the receiver's limit, 16 MiB by default)
///     14    n payload (`AgentPayload` fields)
/// ```
///
/// A reply carries the request id of the request it answers; `ready` and errors
/// about frames that had no readable id use id 0; `workloadExited`, which the host
/// acknowledges, carries a non-zero id of the agent's choosing; so do
/// `sessionOutput` and `sessionExited` (`AgentSession.eventRequestID`, not
/// acknowledged). The agent's own ids have the high bit set, the host's never.
public struct AgentFrame: Equatable, Sendable {
    public static let magic: [UInt8] = [0x43, 0x52, 0x41, 0x4C]
    public static let version: UInt8 = 1
    public static let headerSize = 14
    /// The default bound on a payload: 16 MiB.
    public static let defaultPayloadLimit: UInt32 = 16 << 20

    /// The raw message type, kept raw so an unknown type can still be answered.
    public var type: UInt8
    public var requestID: UInt32
    public var payload: [UInt8]

    public init(type: UInt8, requestID: UInt32, payload: [UInt8]) {
        self.type = type
        self.requestID = requestID
        self.payload = payload
    }

    /// The frame's bytes: header then payload.
    public func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.reserveCapacity(Self.headerSize + payload.count)
        bytes.append(Self.version)
        bytes.append(type)
        bytes.appendBigEndian(requestID)
        bytes.appendBigEndian(UInt32(truncatingIfNeeded: payload.count))
        bytes.append(contentsOf: payload)
        return bytes
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        var big = value.bigEndian
        Swift.withUnsafeBytes(of: &big) { append(contentsOf: $0) }
    }

    func readBigEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value: T = 0
        for index in 0..<MemoryLayout<T>.size {
            value = (value << 8) | T(self[offset + index])
        }
        return value
    }
}
