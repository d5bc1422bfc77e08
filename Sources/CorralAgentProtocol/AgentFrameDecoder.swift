/// Turns a byte stream that arrives in arbitrary pieces into frames.
///
/// Feed bytes with `append`, then call `next()` until it returns nil. A rejected
/// header throws once and is skipped: after `badMagic` the decoder has discarded
/// everything before the next possible magic; after `unsupportedVersion` or
/// `payloadTooLarge` it skips, without a further error, everything up to the next
/// magic. Each bad run of bytes is reported once.
public struct AgentFrameDecoder: Sendable {
    public let payloadLimit: UInt32
    private var buffer: [UInt8] = []
    private var start = 0
    /// Inside a run of bytes already reported as bad: skip to the next magic silently.
    private var discarding = false

    public init(payloadLimit: UInt32 = AgentFrame.defaultPayloadLimit) {
        self.payloadLimit = payloadLimit
    }

    /// Bytes received but not yet returned as part of a frame.
    public var bufferedCount: Int { buffer.count - start }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 0, start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, or nil when more bytes are needed.
    public mutating func next() throws(AgentProtocolError) -> AgentFrame? {
        var available = buffer.count - start
        if available == 0 { return nil }
        let magicMatch = matchedMagicPrefix(at: start)
        if magicMatch < min(available, AgentFrame.magic.count) {
            let skipped = skipToMagic()
            let reported = discarding
            // Until a whole magic turns up, further bytes belong to the same bad run.
            discarding = matchedMagicPrefix(at: start) < AgentFrame.magic.count
            if !reported { throw .badMagic(skipped: skipped) }
            available = buffer.count - start
            if available == 0 || discarding { return nil }
        }
        if available >= AgentFrame.magic.count { discarding = false }
        guard available >= AgentFrame.headerSize else { return nil }
        let version = buffer[start + 4]
        guard version == AgentFrame.version else {
            start += AgentFrame.magic.count
            discarding = true
            throw .unsupportedVersion(version)
        }
        let length = buffer.readBigEndian(UInt32.self, at: start + 10)
        guard length <= payloadLimit else {
            start += AgentFrame.magic.count
            discarding = true
            throw .payloadTooLarge(length: length, limit: payloadLimit)
        }
        guard available >= AgentFrame.headerSize + Int(length) else { return nil }
        let type = buffer[start + 5]
        let requestID = buffer.readBigEndian(UInt32.self, at: start + 6)
        let payloadStart = start + AgentFrame.headerSize
        let payload = Array(buffer[payloadStart..<(payloadStart + Int(length))])
        start = payloadStart + Int(length)
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        return AgentFrame(type: type, requestID: requestID, payload: payload)
    }

    /// How many leading bytes at `offset` agree with the magic (up to what is buffered).
    private func matchedMagicPrefix(at offset: Int) -> Int {
        var matched = 0
        while matched < AgentFrame.magic.count, offset + matched < buffer.count,
            buffer[offset + matched] == AgentFrame.magic[matched]
        {
            matched += 1
        }
        return matched
    }

    /// Discards bytes up to the next position that could begin a frame (a full
    /// magic, or a magic prefix at the end of the buffer). Returns how many.
    private mutating func skipToMagic() -> Int {
        var position = start + 1
        while position < buffer.count {
            let matched = matchedMagicPrefix(at: position)
            if matched == AgentFrame.magic.count || position + matched == buffer.count { break }
            position += 1
        }
        let skipped = position - start
        start = position
        return skipped
    }
}
