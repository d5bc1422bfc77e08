/// An instance as the API reports it (`Instance` in Unikraft Cloud's
/// specification), plus Corral's `driver` and `pid`.
///
/// Every field is optional: a listing without `details`, a created instance
/// and a failed batch item each carry only some of them. Timestamps are
/// RFC 3339 strings in UTC (see `WireDate`).
public struct InstanceDTO: Codable, Sendable, Equatable {
    /// Per-item outcome in batch answers.
    public var status: ResponseStatus?
    public var message: String?
    /// Per-item error code in batch answers (see `ItemErrorCode`).
    public var error: Int?

    public var uuid: String?
    public var name: String?
    public var createdAt: String?
    public var state: WireInstanceState?
    public var privateFQDN: String?
    public var privateIP: String?
    public var image: String?
    public var memoryMB: Int?
    public var vcpus: Int?
    public var args: [String]?
    public var env: [String: String]?
    public var startCount: Int?
    public var restartCount: Int?
    public var startedAt: String?
    public var stoppedAt: String?
    public var uptimeMs: Int?
    public var bootTimeUs: Int?
    public var netTimeUs: Int?
    /// Unikraft Cloud's stop-reason bit set.
    public var stopReason: Int?
    public var exitCode: Int?
    public var stopCode: Int?
    public var restartPolicy: WireRestartPolicy?
    public var restart: RestartAttempt?
    public var scaleToZero: ScaleToZero?
    public var serviceGroup: ServiceGroup?
    public var volumes: [Volume]?
    public var networkInterfaces: [NetworkInterface]?
    public var tags: [String]?
    public var annotations: [String: String]?
    public var deleteLock: Bool?
    public var features: [WireInstanceFeature]?
    public var gateway: String?
    public var nameserver: String?

    /// The driver that runs the instance (Corral extension).
    public var driver: String?
    /// The host process id of the instance's workload while it runs (Corral extension).
    public var pid: Int?
    /// Published ports (Corral extension), as `HOSTPORT:INSTANCEPORT/tcp`.
    public var ports: [String]?

    public init(
        status: ResponseStatus? = nil, message: String? = nil, error: Int? = nil,
        uuid: String? = nil, name: String? = nil, createdAt: String? = nil,
        state: WireInstanceState? = nil, privateFQDN: String? = nil, privateIP: String? = nil,
        image: String? = nil, memoryMB: Int? = nil, vcpus: Int? = nil,
        args: [String]? = nil, env: [String: String]? = nil,
        startCount: Int? = nil, restartCount: Int? = nil,
        startedAt: String? = nil, stoppedAt: String? = nil, uptimeMs: Int? = nil,
        bootTimeUs: Int? = nil, netTimeUs: Int? = nil,
        stopReason: Int? = nil, exitCode: Int? = nil, stopCode: Int? = nil,
        restartPolicy: WireRestartPolicy? = nil, restart: RestartAttempt? = nil,
        scaleToZero: ScaleToZero? = nil, serviceGroup: ServiceGroup? = nil,
        volumes: [Volume]? = nil, networkInterfaces: [NetworkInterface]? = nil,
        tags: [String]? = nil, annotations: [String: String]? = nil,
        deleteLock: Bool? = nil, features: [WireInstanceFeature]? = nil,
        gateway: String? = nil, nameserver: String? = nil,
        driver: String? = nil, pid: Int? = nil
    ) {
        self.status = status
        self.message = message
        self.error = error
        self.uuid = uuid
        self.name = name
        self.createdAt = createdAt
        self.state = state
        self.privateFQDN = privateFQDN
        self.privateIP = privateIP
        self.image = image
        self.memoryMB = memoryMB
        self.vcpus = vcpus
        self.args = args
        self.env = env
        self.startCount = startCount
        self.restartCount = restartCount
        self.startedAt = startedAt
        self.stoppedAt = stoppedAt
        self.uptimeMs = uptimeMs
        self.bootTimeUs = bootTimeUs
        self.netTimeUs = netTimeUs
        self.stopReason = stopReason
        self.exitCode = exitCode
        self.stopCode = stopCode
        self.restartPolicy = restartPolicy
        self.restart = restart
        self.scaleToZero = scaleToZero
        self.serviceGroup = serviceGroup
        self.volumes = volumes
        self.networkInterfaces = networkInterfaces
        self.tags = tags
        self.annotations = annotations
        self.deleteLock = deleteLock
        self.features = features
        self.gateway = gateway
        self.nameserver = nameserver
        self.driver = driver
        self.pid = pid
    }

    enum CodingKeys: String, CodingKey {
        case status, message, error, uuid, name
        case createdAt = "created_at"
        case state
        case privateFQDN = "private_fqdn"
        case privateIP = "private_ip"
        case image
        case memoryMB = "memory_mb"
        case vcpus, args, env
        case startCount = "start_count"
        case restartCount = "restart_count"
        case startedAt = "started_at"
        case stoppedAt = "stopped_at"
        case uptimeMs = "uptime_ms"
        case bootTimeUs = "boot_time_us"
        case netTimeUs = "net_time_us"
        case stopReason = "stop_reason"
        case exitCode = "exit_code"
        case stopCode = "stop_code"
        case restartPolicy = "restart_policy"
        case restart
        case scaleToZero = "scale_to_zero"
        case serviceGroup = "service_group"
        case volumes
        case networkInterfaces = "network_interfaces"
        case tags, annotations
        case deleteLock = "delete_lock"
        case features, gateway, nameserver, driver, pid, ports
    }
}

extension InstanceDTO {
    /// The current restart sequence: how many restarts it performed and when
    /// the next one is due while a back-off delay is in effect.
    public struct RestartAttempt: Codable, Sendable, Equatable {
        public var attempt: Int?
        public var nextAt: String?

        public init(attempt: Int? = nil, nextAt: String? = nil) {
            self.attempt = attempt
            self.nextAt = nextAt
        }

        enum CodingKeys: String, CodingKey {
            case attempt
            case nextAt = "next_at"
        }
    }

    public struct ScaleToZero: Codable, Sendable, Equatable {
        public var enabled: Bool?
        public var policy: WireScaleToZeroPolicy?
        public var stateful: Bool?
        public var cooldownTimeMs: Int?
        public var notifyTimeMs: Int?

        public init(
            enabled: Bool? = nil, policy: WireScaleToZeroPolicy? = nil, stateful: Bool? = nil,
            cooldownTimeMs: Int? = nil, notifyTimeMs: Int? = nil
        ) {
            self.enabled = enabled
            self.policy = policy
            self.stateful = stateful
            self.cooldownTimeMs = cooldownTimeMs
            self.notifyTimeMs = notifyTimeMs
        }

        enum CodingKeys: String, CodingKey {
            case enabled, policy, stateful
            case cooldownTimeMs = "cooldown_time_ms"
            case notifyTimeMs = "notify_time_ms"
        }
    }

    public struct ServiceGroup: Codable, Sendable, Equatable {
        public var uuid: String?
        public var name: String?
        public var domains: [Domain]?

        public init(uuid: String? = nil, name: String? = nil, domains: [Domain]? = nil) {
            self.uuid = uuid
            self.name = name
            self.domains = domains
        }

        enum CodingKeys: String, CodingKey {
            case uuid, name, domains
        }

        public struct Domain: Codable, Sendable, Equatable {
            public var fqdn: String?
            public var certificate: NameOrUUID?

            public init(fqdn: String? = nil, certificate: NameOrUUID? = nil) {
                self.fqdn = fqdn
                self.certificate = certificate
            }

            enum CodingKeys: String, CodingKey {
                case fqdn, certificate
            }
        }
    }

    public struct Volume: Codable, Sendable, Equatable {
        public var uuid: String?
        public var name: String?
        public var at: String?
        public var readonly: Bool?

        public init(uuid: String? = nil, name: String? = nil, at: String? = nil, readonly: Bool? = nil) {
            self.uuid = uuid
            self.name = name
            self.at = at
            self.readonly = readonly
        }

        enum CodingKeys: String, CodingKey {
            case uuid, name, at, readonly
        }
    }

    public struct NetworkInterface: Codable, Sendable, Equatable {
        public var uuid: String?
        public var name: String?
        public var privateIP: String?
        public var mac: String?
        public var tapName: String?
        public var autoconfig: Bool?

        public init(
            uuid: String? = nil, name: String? = nil, privateIP: String? = nil, mac: String? = nil,
            tapName: String? = nil, autoconfig: Bool? = nil
        ) {
            self.uuid = uuid
            self.name = name
            self.privateIP = privateIP
            self.mac = mac
            self.tapName = tapName
            self.autoconfig = autoconfig
        }

        enum CodingKeys: String, CodingKey {
            case uuid, name
            case privateIP = "private_ip"
            case mac
            case tapName = "tap_name"
            case autoconfig
        }
    }
}
