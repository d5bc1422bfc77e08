/// A record on disk or on the ready pipe that does not parse.
public struct ShimFormatError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Which record (`exit record`, `state record`, …).
    public let record: String
    public let reason: String

    public init(record: String, reason: String) {
        self.record = record
        self.reason = reason
    }

    public var description: String { "malformed \(record): \(reason)" }
}
