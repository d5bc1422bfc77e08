extension CreateInstanceRequest {
    /// An image given as a plain reference (`"nginx:latest"`) or as an object
    /// with pull configuration; encodes back to the same form.
    public enum Image: Codable, Sendable, Equatable {
        case reference(String)
        case spec(ImageSpec)

        /// The image reference, whichever form carried it.
        public var url: String {
            switch self {
            case .reference(let url): return url
            case .spec(let spec): return spec.url
            }
        }

        public static var schema: WireSchema { .oneOf([.string, ImageSpec.schema]) }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let reference = try? container.decode(String.self) {
                self = .reference(reference)
            } else {
                self = .spec(try container.decode(ImageSpec.self))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .reference(let reference): try container.encode(reference)
            case .spec(let spec): try container.encode(spec)
            }
        }
    }

    public struct ImageSpec: Codable, Sendable, Equatable {
        public var url: String
        public var credentials: String?
        public var headers: [String: String]?
        public var pullPolicy: WirePullPolicy?

        public init(url: String, credentials: String? = nil, headers: [String: String]? = nil, pullPolicy: WirePullPolicy? = nil) {
            self.url = url
            self.credentials = credentials
            self.headers = headers
            self.pullPolicy = pullPolicy
        }

        enum CodingKeys: String, CodingKey {
            case url, credentials, headers
            case pullPolicy = "pull_policy"
        }

        public static let schema: WireSchema = .object([
            "url": .string, "credentials": .string, "headers": .map(.string),
            "pull_policy": WirePullPolicy.schema,
        ])
    }

    /// An existing volume by name or UUID, or a new one to create.
    public struct Volume: Codable, Sendable, Equatable {
        public var uuid: String?
        public var name: String?
        public var sizeMB: Int?
        public var hostPath: String?
        /// The mount point inside the instance.
        public var at: String
        public var readonly: Bool?
        public var quotaPolicy: String?
        public var filesystem: String?
        public var tags: [String]?
        public var uid: Int?
        public var gid: Int?
        public var accessMode: WireVolumeAccessMode?
        public var args: [String: String]?

        public init(
            uuid: String? = nil, name: String? = nil, sizeMB: Int? = nil, hostPath: String? = nil,
            at: String, readonly: Bool? = nil, quotaPolicy: String? = nil, filesystem: String? = nil,
            tags: [String]? = nil, uid: Int? = nil, gid: Int? = nil,
            accessMode: WireVolumeAccessMode? = nil, args: [String: String]? = nil
        ) {
            self.uuid = uuid
            self.name = name
            self.sizeMB = sizeMB
            self.hostPath = hostPath
            self.at = at
            self.readonly = readonly
            self.quotaPolicy = quotaPolicy
            self.filesystem = filesystem
            self.tags = tags
            self.uid = uid
            self.gid = gid
            self.accessMode = accessMode
            self.args = args
        }

        enum CodingKeys: String, CodingKey {
            case uuid, name
            case sizeMB = "size_mb"
            case hostPath = "host_path"
            case at, readonly
            case quotaPolicy = "quota_policy"
            case filesystem, tags, uid, gid
            case accessMode = "access_mode"
            case args
        }

        public static let schema: WireSchema = .object([
            "uuid": .string, "name": .string, "size_mb": .integer, "host_path": .string,
            "at": .string, "readonly": .boolean, "quota_policy": .string, "filesystem": .string,
            "tags": .array(.string), "uid": .integer, "gid": .integer,
            "access_mode": WireVolumeAccessMode.schema, "args": .map(.string),
        ])
    }

    /// An existing service group by name or UUID, or the services of a new one.
    public struct ServiceGroup: Codable, Sendable, Equatable {
        public var uuid: String?
        public var name: String?
        public var domains: [Domain]?
        public var services: [Service]?
        public var softLimit: Int?
        public var hardLimit: Int?

        public init(
            uuid: String? = nil, name: String? = nil, domains: [Domain]? = nil,
            services: [Service]? = nil, softLimit: Int? = nil, hardLimit: Int? = nil
        ) {
            self.uuid = uuid
            self.name = name
            self.domains = domains
            self.services = services
            self.softLimit = softLimit
            self.hardLimit = hardLimit
        }

        enum CodingKeys: String, CodingKey {
            case uuid, name, domains, services
            case softLimit = "soft_limit"
            case hardLimit = "hard_limit"
        }

        public static let schema: WireSchema = .object([
            "uuid": .string, "name": .string, "domains": .array(Domain.schema),
            "services": .array(Service.schema), "soft_limit": .integer, "hard_limit": .integer,
        ])
    }

    public struct Domain: Codable, Sendable, Equatable {
        public var name: String
        public var certificate: NameOrUUID?

        public init(name: String, certificate: NameOrUUID? = nil) {
            self.name = name
            self.certificate = certificate
        }

        enum CodingKeys: String, CodingKey {
            case name, certificate
        }

        public static let schema: WireSchema = .object(["name": .string, "certificate": NameOrUUID.schema])
    }

    /// A published port.
    public struct Service: Codable, Sendable, Equatable {
        public var port: Int?
        public var destinationPort: Int?
        public var `protocol`: WireServiceProtocol?
        public var ip: String?
        public var handlers: [WireConnectionHandler]?

        public init(
            port: Int? = nil, destinationPort: Int? = nil, protocol: WireServiceProtocol? = nil,
            ip: String? = nil, handlers: [WireConnectionHandler]? = nil
        ) {
            self.port = port
            self.destinationPort = destinationPort
            self.protocol = `protocol`
            self.ip = ip
            self.handlers = handlers
        }

        enum CodingKeys: String, CodingKey {
            case port
            case destinationPort = "destination_port"
            case `protocol` = "protocol"
            case ip, handlers
        }

        public static let schema: WireSchema = .object([
            "port": .integer, "destination_port": .integer, "protocol": WireServiceProtocol.schema,
            "ip": .string, "handlers": .array(WireConnectionHandler.schema),
        ])
    }

    public struct ScaleToZero: Codable, Sendable, Equatable {
        public var policy: WireScaleToZeroPolicy?
        public var stateful: Bool?
        public var cooldownTimeMs: Int?
        public var notifyTimeMs: Int?

        public init(policy: WireScaleToZeroPolicy? = nil, stateful: Bool? = nil, cooldownTimeMs: Int? = nil, notifyTimeMs: Int? = nil) {
            self.policy = policy
            self.stateful = stateful
            self.cooldownTimeMs = cooldownTimeMs
            self.notifyTimeMs = notifyTimeMs
        }

        enum CodingKeys: String, CodingKey {
            case policy, stateful
            case cooldownTimeMs = "cooldown_time_ms"
            case notifyTimeMs = "notify_time_ms"
        }

        public static let schema: WireSchema = .object([
            "policy": WireScaleToZeroPolicy.schema, "stateful": .boolean,
            "cooldown_time_ms": .integer, "notify_time_ms": .integer,
        ])
    }

    /// Delete-on-idle and request-limit settings.
    public struct Autokill: Codable, Sendable, Equatable {
        public var timeMs: Int?
        public var numRequests: Int?

        public init(timeMs: Int? = nil, numRequests: Int? = nil) {
            self.timeMs = timeMs
            self.numRequests = numRequests
        }

        enum CodingKeys: String, CodingKey {
            case timeMs = "time_ms"
            case numRequests = "num_requests"
        }

        public static let schema: WireSchema = .object(["time_ms": .integer, "num_requests": .integer])
    }

    /// A template to create the instance from.
    public struct Template: Codable, Sendable, Equatable {
        public var uuid: String?
        public var name: String?
        public var prepare: Bool?
        /// Instance fields to apply on top of the template (an `Instance` object).
        public var createArgs: JSONValue?
        public var prepareTimeoutS: Int?
        public var autokill: Autokill?

        public init(
            uuid: String? = nil, name: String? = nil, prepare: Bool? = nil, createArgs: JSONValue? = nil,
            prepareTimeoutS: Int? = nil, autokill: Autokill? = nil
        ) {
            self.uuid = uuid
            self.name = name
            self.prepare = prepare
            self.createArgs = createArgs
            self.prepareTimeoutS = prepareTimeoutS
            self.autokill = autokill
        }

        enum CodingKeys: String, CodingKey {
            case uuid, name, prepare
            case createArgs = "create_args"
            case prepareTimeoutS = "prepare_timeout_s"
            case autokill
        }

        public static let schema: WireSchema = .object([
            "uuid": .string, "name": .string, "prepare": .boolean,
            "create_args": .map(.any), "prepare_timeout_s": .integer,
            "autokill": .object(["time_ms": .integer]),
        ])
    }

    /// A read-only blob attached to the instance.
    public struct Rom: Codable, Sendable, Equatable {
        public var name: String
        public var image: Image?
        public var at: String?
        public var files: [InlineFile]?

        public init(name: String, image: Image? = nil, at: String? = nil, files: [InlineFile]? = nil) {
            self.name = name
            self.image = image
            self.at = at
            self.files = files
        }

        enum CodingKeys: String, CodingKey {
            case name, image, at, files
        }

        public static let schema: WireSchema = .object([
            "name": .string, "image": Image.schema, "at": .string, "files": .array(InlineFile.schema),
        ])
    }

    public struct InlineFile: Codable, Sendable, Equatable {
        public var path: String?
        /// `text` (the default) or `base64`.
        public var encoding: String?
        public var data: String?

        public init(path: String? = nil, encoding: String? = nil, data: String? = nil) {
            self.path = path
            self.encoding = encoding
            self.data = data
        }

        enum CodingKeys: String, CodingKey {
            case path, encoding, data
        }

        public static let schema: WireSchema = .object([
            "path": .string, "encoding": .enumeration(["text", "base64"]), "data": .string,
        ])
    }

    /// A helper program attached to the instance.
    public struct Plugin: Codable, Sendable, Equatable {
        public var name: String
        public var image: Image?
        /// The former name of `image`.
        public var rom: Image?
        public var config: JSONValue?

        public init(name: String, image: Image? = nil, rom: Image? = nil, config: JSONValue? = nil) {
            self.name = name
            self.image = image
            self.rom = rom
            self.config = config
        }

        enum CodingKeys: String, CodingKey {
            case name, image, rom, config
        }

        public static let schema: WireSchema = .object([
            "name": .string, "image": Image.schema, "rom": Image.schema, "config": .any,
        ])
    }

    /// A calendar-based operation on the instance.
    public struct Schedule: Codable, Sendable, Equatable {
        public var name: String?
        public var when: String?
        public var action: WireScheduleAction?
        public var nextAt: String?
        public var args: [String]?

        public init(name: String? = nil, when: String? = nil, action: WireScheduleAction? = nil, nextAt: String? = nil, args: [String]? = nil) {
            self.name = name
            self.when = when
            self.action = action
            self.nextAt = nextAt
            self.args = args
        }

        enum CodingKeys: String, CodingKey {
            case name, when, action
            case nextAt = "next_at"
            case args
        }

        public static let schema: WireSchema = .object([
            "name": .string, "when": .string, "action": WireScheduleAction.schema,
            "next_at": .string, "args": .array(.string),
        ])
    }

    public struct NetworkInterface: Codable, Sendable, Equatable {
        public var name: String?
        public var tapName: String?
        /// The address in CIDR notation.
        public var ip: String?
        public var mac: String?
        public var autoconfig: Bool?
        public var relay: Relay?

        public init(
            name: String? = nil, tapName: String? = nil, ip: String? = nil, mac: String? = nil,
            autoconfig: Bool? = nil, relay: Relay? = nil
        ) {
            self.name = name
            self.tapName = tapName
            self.ip = ip
            self.mac = mac
            self.autoconfig = autoconfig
            self.relay = relay
        }

        enum CodingKeys: String, CodingKey {
            case name
            case tapName = "tap_name"
            case ip, mac, autoconfig, relay
        }

        public struct Relay: Codable, Sendable, Equatable {
            public var relayDNS: Bool?
            public var uuid: String?
            public var name: String?

            public init(relayDNS: Bool? = nil, uuid: String? = nil, name: String? = nil) {
                self.relayDNS = relayDNS
                self.uuid = uuid
                self.name = name
            }

            enum CodingKeys: String, CodingKey {
                case relayDNS = "relay_dns"
                case uuid, name
            }
        }

        public static let schema: WireSchema = .object([
            "name": .string, "tap_name": .string, "ip": .string, "mac": .string,
            "autoconfig": .boolean,
            "relay": .object(["relay_dns": .boolean, "uuid": .string, "name": .string]),
        ])
    }
}
