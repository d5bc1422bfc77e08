/// The self-describing encoding of message payloads: a sequence of fields, each
///
/// ```
/// tag    u8   what the field means (per message type)
/// length u32  big-endian byte count
/// value       `length` bytes: UTF-8 text, raw bytes, or a big-endian integer
/// ```
///
/// A tag may repeat (list fields such as argv). Readers ignore tags they do not
/// know, so a newer sender may add fields without breaking an older receiver.
public struct AgentPayloadWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func bytes(_ tag: UInt8, _ value: [UInt8]) {
        bytes.append(tag)
        bytes.appendBigEndian(UInt32(truncatingIfNeeded: value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ tag: UInt8, _ value: String) {
        bytes(tag, Array(value.utf8))
    }

    public mutating func strings(_ tag: UInt8, _ values: [String]) {
        for value in values { string(tag, value) }
    }

    public mutating func uint(_ tag: UInt8, _ value: UInt64) {
        var encoded: [UInt8] = []
        encoded.appendBigEndian(value)
        bytes(tag, encoded)
    }

    public mutating func int(_ tag: UInt8, _ value: Int64) {
        uint(tag, UInt64(bitPattern: value))
    }

    public mutating func bool(_ tag: UInt8, _ value: Bool) {
        bytes(tag, [value ? 1 : 0])
    }
}

/// Parses an `AgentPayloadWriter` encoding; accessors throw `malformedPayload`
/// naming the missing or ill-typed field.
public struct AgentPayloadReader: Sendable {
    private var fields: [(tag: UInt8, value: ArraySlice<UInt8>)] = []
    private let context: String

    /// Splits `payload` into fields. `context` names the message in errors.
    public init(_ payload: [UInt8], context: String) throws(AgentProtocolError) {
        self.context = context
        var offset = 0
        while offset < payload.count {
            guard payload.count - offset >= 5 else {
                throw .malformedPayload("\(context): truncated field header at offset \(offset)")
            }
            let tag = payload[offset]
            let length = Int(payload.readBigEndian(UInt32.self, at: offset + 1))
            offset += 5
            guard payload.count - offset >= length else {
                throw .malformedPayload("\(context): field \(tag) announces \(length) bytes, \(payload.count - offset) remain")
            }
            fields.append((tag, payload[offset..<(offset + length)]))
            offset += length
        }
    }

    public func has(_ tag: UInt8) -> Bool { fields.contains { $0.tag == tag } }

    public func optionalBytes(_ tag: UInt8) -> [UInt8]? {
        fields.first { $0.tag == tag }.map { Array($0.value) }
    }

    /// Every value of a repeated field, in order.
    public func all(_ tag: UInt8) -> [[UInt8]] {
        fields.filter { $0.tag == tag }.map { Array($0.value) }
    }

    /// Every value of a repeated integer field, each of which must fit `T`.
    public func integers<T: FixedWidthInteger>(_: T.Type, _ tag: UInt8, _ name: String) throws(AgentProtocolError) -> [T] {
        var result: [T] = []
        for value in all(tag) {
            guard value.count == 8 else {
                throw .malformedPayload("\(context): field \(name) is \(value.count) bytes, expected an 8-byte integer")
            }
            let raw = Int64(bitPattern: value.readBigEndian(UInt64.self, at: 0))
            guard let fitting = T(exactly: raw) else {
                throw .malformedPayload("\(context): field \(name) value \(raw) is out of range")
            }
            result.append(fitting)
        }
        return result
    }

    public func bytes(_ tag: UInt8, _ name: String) throws(AgentProtocolError) -> [UInt8] {
        guard let value = optionalBytes(tag) else { throw missing(name) }
        return value
    }

    public func optionalString(_ tag: UInt8, _ name: String) throws(AgentProtocolError) -> String? {
        guard let value = optionalBytes(tag) else { return nil }
        return try decodeText(value, name)
    }

    public func string(_ tag: UInt8, _ name: String) throws(AgentProtocolError) -> String {
        guard let value = try optionalString(tag, name) else { throw missing(name) }
        return value
    }

    public func strings(_ tag: UInt8, _ name: String) throws(AgentProtocolError) -> [String] {
        var result: [String] = []
        for field in fields where field.tag == tag {
            result.append(try decodeText(Array(field.value), name))
        }
        return result
    }

    public func optionalUInt(_ tag: UInt8, _ name: String) throws(AgentProtocolError) -> UInt64? {
        guard let value = optionalBytes(tag) else { return nil }
        guard value.count == 8 else {
            throw .malformedPayload("\(context): field \(name) is \(value.count) bytes, expected an 8-byte integer")
        }
        return value.readBigEndian(UInt64.self, at: 0)
    }

    public func uint(_ tag: UInt8, _ name: String) throws(AgentProtocolError) -> UInt64 {
        guard let value = try optionalUInt(tag, name) else { throw missing(name) }
        return value
    }

    public func int(_ tag: UInt8, _ name: String) throws(AgentProtocolError) -> Int64 {
        Int64(bitPattern: try uint(tag, name))
    }

    /// An integer field that must fit `T`.
    public func fitting<T: FixedWidthInteger>(_: T.Type, _ tag: UInt8, _ name: String) throws(AgentProtocolError) -> T {
        let raw = try int(tag, name)
        guard let value = T(exactly: raw) else {
            throw .malformedPayload("\(context): field \(name) value \(raw) is out of range")
        }
        return value
    }

    public func bool(_ tag: UInt8, _ name: String) throws(AgentProtocolError) -> Bool {
        guard let value = optionalBytes(tag) else { return false }
        guard value.count == 1, value[0] <= 1 else {
            throw .malformedPayload("\(context): field \(name) is not a boolean")
        }
        return value[0] == 1
    }

    private func decodeText(_ value: [UInt8], _ name: String) throws(AgentProtocolError) -> String {
        guard let text = String(validating: value, as: UTF8.self) else {
            throw .malformedPayload("\(context): field \(name) is not valid UTF-8")
        }
        return text
    }

    private func missing(_ name: String) -> AgentProtocolError {
        .malformedPayload("\(context): missing field \(name)")
    }
}
