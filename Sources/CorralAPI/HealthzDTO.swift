/// The `data` of `GET /v1/healthz`.
public struct HealthzDTO: Codable, Sendable, Equatable {
    /// Each health checker's verdict, by checker name.
    public var checks: [String: HealthState]?
    /// Component versions, by component name (`corrald`, `api`, ...).
    public var versions: [String: String]?
    public var license: License?

    public init(checks: [String: HealthState]? = nil, versions: [String: String]? = nil, license: License? = nil) {
        self.checks = checks
        self.versions = versions
        self.license = license
    }

    enum CodingKeys: String, CodingKey {
        case checks, versions, license
    }

    public enum HealthState: String, WireEnum {
        case unknown
        case healthy
        case degraded
    }

    public struct License: Codable, Sendable, Equatable {
        public var serial: String?
        public var valid: Bool?
        public var features: [String]?

        public init(serial: String? = nil, valid: Bool? = nil, features: [String]? = nil) {
            self.serial = serial
            self.valid = valid
            self.features = features
        }

        enum CodingKeys: String, CodingKey {
            case serial, valid, features
        }
    }
}
