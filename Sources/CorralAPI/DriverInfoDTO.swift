/// A driver as `GET /v1/drivers` reports it (a Corral extension).
public struct DriverInfoDTO: Codable, Sendable, Equatable {
    /// The driver's wire name (`process`, `container`, `vm`, or a plugin's).
    public var name: String
    /// Whether instances can run on this driver here.
    public var available: Bool
    /// Why the driver is unavailable, or what limits it; empty when nothing does.
    public var notes: [String]
    /// The optional operations the driver supports (`exec`, `freeze`, ...).
    public var capabilities: [String]
    /// Whether instances created without a `driver` use this one.
    public var `default`: Bool

    public init(name: String, available: Bool, notes: [String] = [], capabilities: [String] = [], default: Bool = false) {
        self.name = name
        self.available = available
        self.notes = notes
        self.capabilities = capabilities
        self.default = `default`
    }

    enum CodingKeys: String, CodingKey {
        case name, available, notes, capabilities
        case `default` = "default"
    }
}
