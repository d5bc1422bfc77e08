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
    /// The driver's standbys; absent for a driver that keeps none.
    public var standby: StandbyDTO?

    public init(
        name: String, available: Bool, notes: [String] = [], capabilities: [String] = [], default: Bool = false,
        standby: StandbyDTO? = nil
    ) {
        self.name = name
        self.available = available
        self.notes = notes
        self.capabilities = capabilities
        self.default = `default`
        self.standby = standby
    }

    enum CodingKeys: String, CodingKey {
        case name, available, notes, capabilities, standby
        case `default` = "default"
    }
}

/// A driver's standbys: workload environments prepared ahead of time, each taken
/// over by the next instance of its image that is created and started at once.
public struct StandbyDTO: Codable, Sendable, Equatable {
    /// Standbys kept per recently started image (0: none are kept).
    public var perImage: Int
    /// Standbys ready to be taken over.
    public var ready: Int
    /// Standbys being prepared, or about to be.
    public var preparing: Int

    public init(perImage: Int, ready: Int, preparing: Int) {
        self.perImage = perImage
        self.ready = ready
        self.preparing = preparing
    }

    enum CodingKeys: String, CodingKey {
        case perImage = "per_image"
        case ready, preparing
    }
}
