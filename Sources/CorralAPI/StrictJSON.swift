import Foundation

/// Decodes request bodies strictly: unknown fields, mistyped fields and
/// missing required fields are errors that name the field.
public enum StrictJSON {
    /// Decodes `data` as `T` after checking it against `T.schema`.
    ///
    /// The first violation is reported, looking at object keys in sorted
    /// order: an unknown key as `unknown field 'volumes[0].foo'`, a value of
    /// the wrong type as `invalid field 'memory_mb': expected an integer`, a
    /// missing required one as `missing field 'state'`.
    ///
    /// - Throws: `WireDecodingError`, and nothing else.
    public static func decode<T: StrictDecodable>(_ type: T.Type, from data: Data) throws(WireDecodingError) -> T {
        let tree: JSONValue
        do {
            tree = try JSONValue(parsing: data)
        } catch {
            throw WireDecodingError(kind: .malformed, path: WirePath(), detail: "not valid JSON")
        }
        return try decode(type, from: tree)
    }

    /// Decodes `data` as `T`, or returns `nil` when the body is empty or only
    /// whitespace (an optional body, as on `PUT /v1/instances/{id}/start`).
    public static func decodeIfPresent<T: StrictDecodable>(_ type: T.Type, from data: Data) throws(WireDecodingError) -> T? {
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return nil
        }
        return try decode(type, from: data)
    }

    /// Decodes an already parsed tree as `T` after checking it against `T.schema`.
    public static func decode<T: StrictDecodable>(_ type: T.Type, from tree: JSONValue) throws(WireDecodingError) -> T {
        if let violation = T.schema.violation(in: tree) {
            throw violation
        }
        if tree.isNull {
            throw WireDecodingError.invalidField(WirePath(), expected: T.schema.expectation)
        }
        do {
            return try tree.decode(type)
        } catch let error as DecodingError {
            throw translate(error)
        } catch {
            throw WireDecodingError(kind: .malformed, path: WirePath(), detail: "\(error)")
        }
    }

    private static func translate(_ error: DecodingError) -> WireDecodingError {
        switch error {
        case .keyNotFound(let key, let context):
            return .missingField(WirePath(codingPath: context.codingPath + [key]))
        case .valueNotFound(_, let context):
            return .missingField(WirePath(codingPath: context.codingPath))
        case .typeMismatch(let type, let context):
            return .invalidField(WirePath(codingPath: context.codingPath), expected: expectation(of: type))
        case .dataCorrupted(let context):
            return WireDecodingError(
                kind: .invalidField, path: WirePath(codingPath: context.codingPath),
                detail: "expected " + context.debugDescription)
        @unknown default:
            return WireDecodingError(kind: .malformed, path: WirePath(), detail: "\(error)")
        }
    }

    private static func expectation(of type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "a boolean"
        case is Int.Type, is Int64.Type, is UInt64.Type, is Int32.Type, is UInt32.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "a value of another type"
        }
    }
}
