/// Why a request body was rejected; `description` is the message to return
/// to the caller (`unknown field 'volumes[0].foo'`).
public struct WireDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The body is not JSON at all.
        case malformed
        /// An object carries a key the wire type does not define.
        case unknownField
        /// A field has the wrong type or an unaccepted value.
        case invalidField
        /// A required field is absent or `null`.
        case missingField
    }

    public var kind: Kind
    /// Where in the document; the root for a body of the wrong shape.
    public var path: WirePath
    /// What was expected, or the parser's complaint for `.malformed`.
    public var detail: String

    public init(kind: Kind, path: WirePath, detail: String) {
        self.kind = kind
        self.path = path
        self.detail = detail
    }

    public static func unknownField(_ path: WirePath) -> WireDecodingError {
        WireDecodingError(kind: .unknownField, path: path, detail: "")
    }

    public static func invalidField(_ path: WirePath, expected: String) -> WireDecodingError {
        WireDecodingError(kind: .invalidField, path: path, detail: "expected " + expected)
    }

    public static func missingField(_ path: WirePath) -> WireDecodingError {
        WireDecodingError(kind: .missingField, path: path, detail: "")
    }

    public var description: String {
        switch kind {
        case .malformed:
            return "invalid request body: " + detail
        case .unknownField:
            return "unknown field '\(path)'"
        case .missingField:
            return "missing field '\(path)'"
        case .invalidField:
            if path.isRoot { return "invalid request body: " + detail }
            return "invalid field '\(path)': " + detail
        }
    }
}
