/// Why a request's query was rejected; `description` names the parameter
/// (`invalid query 'cols': '0' is not a number from 1 to 65535`).
public struct WireQueryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The query parameter at fault.
    public var name: String
    public var reason: String

    public init(name: String, reason: String) {
        self.name = name
        self.reason = reason
    }

    public var description: String { "invalid query '\(name)': \(reason)" }
}
