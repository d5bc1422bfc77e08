/// The one error type of Corral: an extensible code, a message, and an optional cause.
///
/// Messages read `failed to <verb> <object>: <reason>`. HTTP status codes are not
/// part of this type; the server maps `Code` to a status in exactly one place.
public struct CorralError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is. Extensible: new codes are new static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let invalidArgument = Code("invalid_argument")
        public static let unauthorized = Code("unauthorized")
        public static let notFound = Code("not_found")
        public static let conflict = Code("conflict")
        public static let invalidState = Code("invalid_state")
        public static let unsupported = Code("unsupported")
        public static let unavailable = Code("unavailable")
        public static let timeout = Code("timeout")
        public static let `internal` = Code("internal")
    }

    public let code: Code
    public let message: String
    /// The underlying error's description, if any. Kept as text so the error stays
    /// `Sendable` and `Equatable`.
    public let cause: String?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause.map { String(describing: $0) }
    }

    public var description: String {
        if let cause { return "\(message): \(cause)" }
        return message
    }

    public static func invalidArgument(_ message: String) -> CorralError { .init(.invalidArgument, message) }
    public static func notFound(_ message: String) -> CorralError { .init(.notFound, message) }
    public static func conflict(_ message: String) -> CorralError { .init(.conflict, message) }
    public static func invalidState(_ message: String) -> CorralError { .init(.invalidState, message) }
    public static func unsupported(_ message: String) -> CorralError { .init(.unsupported, message) }
    public static func timeout(_ message: String) -> CorralError { .init(.timeout, message) }
    public static func unavailable(_ message: String) -> CorralError { .init(.unavailable, message) }
    public static func `internal`(_ message: String, cause: (any Error)? = nil) -> CorralError {
        .init(.internal, message, cause: cause)
    }

    /// Wraps any error as a `CorralError`, keeping one that already is.
    public static func wrap(_ error: any Error, _ message: String) -> CorralError {
        if let error = error as? CorralError { return error }
        return .init(.internal, message, cause: error)
    }
}
