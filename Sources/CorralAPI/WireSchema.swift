/// The shape a wire value must have, used to reject unknown and mistyped
/// fields by name before a request is decoded.
///
/// `null` is accepted wherever a schema is expected: every wire field may be
/// absent, and a field that is required is reported missing by the decoder.
public indirect enum WireSchema: Sendable {
    /// Any JSON value (free-form fields).
    case any
    case string
    /// A number without a fractional part.
    case integer
    case number
    case boolean
    /// A string drawn from a fixed set of values.
    case enumeration([String])
    /// An object with arbitrary keys whose values all have one shape.
    case map(WireSchema)
    case array(WireSchema)
    /// An object whose keys are exactly the listed fields, each optional.
    case object([String: WireSchema])
    /// A value of any of the alternatives (e.g. an image given as a string or an object).
    case oneOf([WireSchema])

    /// The field names of an `.object` schema; empty for every other shape.
    public var fieldNames: Set<String> {
        if case .object(let fields) = self { return Set(fields.keys) }
        return []
    }

    /// What a value of this shape is, for error messages ("an integer").
    public var expectation: String {
        switch self {
        case .any: return "any value"
        case .string: return "a string"
        case .integer: return "an integer"
        case .number: return "a number"
        case .boolean: return "a boolean"
        case .enumeration(let values): return "one of " + values.joined(separator: ", ")
        case .map(.string): return "an object of strings"
        case .map, .object: return "an object"
        case .array: return "an array"
        case .oneOf(let alternatives):
            return alternatives.map(\.expectation).joined(separator: " or ")
        }
    }

    /// Checks `value` against this schema.
    ///
    /// - Returns: the first violation, looking at object keys in sorted order
    ///   so the answer is the same on every run; `nil` when the value fits.
    public func violation(in value: JSONValue, at path: WirePath = WirePath()) -> WireDecodingError? {
        if value.isNull { return nil }
        switch (self, value) {
        case (.any, _):
            return nil
        case (.string, .string), (.number, .number), (.boolean, .bool):
            return nil
        case (.integer, .number):
            return value.intValue == nil ? .invalidField(path, expected: expectation) : nil
        case (.enumeration(let values), .string(let string)):
            return values.contains(string) ? nil : .invalidField(path, expected: expectation)
        case (.map(let element), .object(let members)):
            for key in members.keys.sorted() {
                if let member = members[key],
                    let failure = element.violation(in: member, at: path.appending(key))
                {
                    return failure
                }
            }
            return nil
        case (.array(let element), .array(let elements)):
            for (index, item) in elements.enumerated() {
                if let failure = element.violation(in: item, at: path.appending(index)) {
                    return failure
                }
            }
            return nil
        case (.object(let fields), .object(let members)):
            let keys = members.keys.sorted()
            if let unknown = keys.first(where: { fields[$0] == nil }) {
                return .unknownField(path.appending(unknown))
            }
            for key in keys {
                if let member = members[key], let field = fields[key],
                    let failure = field.violation(in: member, at: path.appending(key))
                {
                    return failure
                }
            }
            return nil
        case (.oneOf(let alternatives), _):
            if let matching = alternatives.first(where: { $0.acceptsKind(of: value) }) {
                return matching.violation(in: value, at: path)
            }
            return .invalidField(path, expected: expectation)
        default:
            return .invalidField(path, expected: expectation)
        }
    }

    private func acceptsKind(of value: JSONValue) -> Bool {
        switch (self, value) {
        case (.any, _), (.string, .string), (.integer, .number), (.number, .number),
            (.boolean, .bool), (.enumeration, .string), (.map, .object), (.object, .object),
            (.array, .array):
            return true
        case (.oneOf(let alternatives), _):
            return alternatives.contains { $0.acceptsKind(of: value) }
        default:
            return false
        }
    }
}

/// A location inside a JSON document, written as `volumes[0].at`.
public struct WirePath: Sendable, Hashable, CustomStringConvertible {
    public enum Component: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public private(set) var components: [Component]

    public init(_ components: [Component] = []) {
        self.components = components
    }

    /// Builds a path from a `DecodingError`'s coding path.
    public init(codingPath: [any CodingKey]) {
        components = codingPath.map { key in
            if let index = key.intValue { return .index(index) }
            return .key(key.stringValue)
        }
    }

    public func appending(_ key: String) -> WirePath {
        WirePath(components + [.key(key)])
    }

    public func appending(_ index: Int) -> WirePath {
        WirePath(components + [.index(index)])
    }

    public var isRoot: Bool { components.isEmpty }

    public var description: String {
        var text = ""
        for component in components {
            switch component {
            case .key(let key):
                text += text.isEmpty ? key : "." + key
            case .index(let index):
                text += "[\(index)]"
            }
        }
        return text
    }
}

/// A wire type whose accepted fields are declared, so a request body can be
/// checked for unknown and mistyped fields before it is decoded.
public protocol StrictDecodable: Decodable {
    /// The shape of this type on the wire.
    static var schema: WireSchema { get }
}

extension StrictDecodable {
    /// The wire keys this type accepts at its top level.
    public static var fields: Set<String> { schema.fieldNames }
}

extension Array: StrictDecodable where Element: StrictDecodable {
    public static var schema: WireSchema { .array(Element.schema) }
}

/// A string enumeration on the wire: its raw values are the accepted strings.
///
/// Decoding an unknown value fails with a message listing the accepted ones.
public protocol WireEnum: RawRepresentable, CaseIterable, Codable, Sendable, Hashable
where RawValue == String {}

extension WireEnum {
    /// The accepted strings, in declaration order.
    public static var schema: WireSchema { .enumeration(allCases.map(\.rawValue)) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let value = Self(rawValue: raw) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: Self.schema.expectation)
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
