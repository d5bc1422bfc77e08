/// A reference to a resource by name or by UUID, as in batch request items.
///
/// The wire allows either field; a well-formed reference carries exactly one.
public struct NameOrUUID: Codable, Sendable, Hashable, StrictDecodable {
    public var uuid: String?
    public var name: String?

    public init(uuid: String? = nil, name: String? = nil) {
        self.uuid = uuid
        self.name = name
    }

    /// A reference by name.
    public static func name(_ name: String) -> NameOrUUID { NameOrUUID(name: name) }

    /// A reference by UUID.
    public static func uuid(_ uuid: String) -> NameOrUUID { NameOrUUID(uuid: uuid) }

    /// The UUID if present, else the name; `nil` when neither is set.
    public var identifier: String? { uuid ?? name }

    enum CodingKeys: String, CodingKey {
        case uuid, name
    }

    public static let schema: WireSchema = .object(["uuid": .string, "name": .string])
}
