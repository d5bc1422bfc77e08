/// The body of `POST /v1/instances`: every field of Unikraft Cloud's
/// `CreateInstanceRequest`, plus Corral's `driver`.
///
/// Accepting a field on the wire does not mean Corral implements it: the
/// server rejects a field it cannot honour with an `unsupported` error.
public struct CreateInstanceRequest: Codable, Sendable, Equatable, StrictDecodable {
    public var name: String?
    public var image: Image?
    public var args: [String]?
    public var env: [String: String]?
    public var memoryMB: Int?
    public var vcpus: Int?
    public var serviceGroup: ServiceGroup?
    public var volumes: [Volume]?
    public var autostart: Bool?
    public var replicas: Int?
    public var restartPolicy: WireRestartPolicy?
    public var scaleToZero: ScaleToZero?
    /// Deprecated by the wire in favour of `timeoutS`.
    public var waitTimeoutMs: Int?
    public var timeoutS: Int?
    public var features: [WireInstanceFeature]?
    public var roms: [Rom]?
    public var plugins: [Plugin]?
    public var tags: [String]?
    public var annotations: [String: String]?
    public var template: Template?
    public var schedPriority: WireSchedPriority?
    public var schedules: [Schedule]?
    public var autokill: Autokill?
    public var hostname: String?
    public var dependencies: [NameOrUUID]?
    public var branchFrom: NameOrUUID?
    public var checkpoint: NameOrUUID?
    public var gateway: String?
    public var nameserver: String?
    public var networkInterfaces: [NetworkInterface]?
    public var type: WireInstanceType?
    public var gpus: Int?
    /// The driver to run the instance on (Corral extension); the daemon's
    /// default driver when absent.
    public var driver: String?
    /// Ports published on the host's loopback (Corral extension):
    /// `HOSTPORT:INSTANCEPORT`, optionally with `/tcp`.
    public var ports: [String]?
    /// The kernel of a `vm` instance (Corral extension).
    public var kernel: Kernel?

    public init(
        name: String? = nil, image: Image? = nil, args: [String]? = nil, env: [String: String]? = nil,
        memoryMB: Int? = nil, vcpus: Int? = nil, serviceGroup: ServiceGroup? = nil,
        volumes: [Volume]? = nil, autostart: Bool? = nil, replicas: Int? = nil,
        restartPolicy: WireRestartPolicy? = nil, scaleToZero: ScaleToZero? = nil,
        waitTimeoutMs: Int? = nil, timeoutS: Int? = nil, features: [WireInstanceFeature]? = nil,
        roms: [Rom]? = nil, plugins: [Plugin]? = nil, tags: [String]? = nil,
        annotations: [String: String]? = nil, template: Template? = nil,
        schedPriority: WireSchedPriority? = nil, schedules: [Schedule]? = nil,
        autokill: Autokill? = nil, hostname: String? = nil, dependencies: [NameOrUUID]? = nil,
        branchFrom: NameOrUUID? = nil, checkpoint: NameOrUUID? = nil,
        gateway: String? = nil, nameserver: String? = nil,
        networkInterfaces: [NetworkInterface]? = nil, type: WireInstanceType? = nil,
        gpus: Int? = nil, driver: String? = nil, ports: [String]? = nil, kernel: Kernel? = nil
    ) {
        self.name = name
        self.image = image
        self.args = args
        self.env = env
        self.memoryMB = memoryMB
        self.vcpus = vcpus
        self.serviceGroup = serviceGroup
        self.volumes = volumes
        self.autostart = autostart
        self.replicas = replicas
        self.restartPolicy = restartPolicy
        self.scaleToZero = scaleToZero
        self.waitTimeoutMs = waitTimeoutMs
        self.timeoutS = timeoutS
        self.features = features
        self.roms = roms
        self.plugins = plugins
        self.tags = tags
        self.annotations = annotations
        self.template = template
        self.schedPriority = schedPriority
        self.schedules = schedules
        self.autokill = autokill
        self.hostname = hostname
        self.dependencies = dependencies
        self.branchFrom = branchFrom
        self.checkpoint = checkpoint
        self.gateway = gateway
        self.nameserver = nameserver
        self.networkInterfaces = networkInterfaces
        self.type = type
        self.gpus = gpus
        self.driver = driver
        self.ports = ports
        self.kernel = kernel
    }

    enum CodingKeys: String, CodingKey {
        case name, image, args, env
        case memoryMB = "memory_mb"
        case vcpus
        case serviceGroup = "service_group"
        case volumes, autostart, replicas
        case restartPolicy = "restart_policy"
        case scaleToZero = "scale_to_zero"
        case waitTimeoutMs = "wait_timeout_ms"
        case timeoutS = "timeout_s"
        case features, roms, plugins, tags, annotations, template
        case schedPriority = "sched_priority"
        case schedules, autokill, hostname, dependencies
        case branchFrom = "branch_from"
        case checkpoint, gateway, nameserver
        case networkInterfaces = "network_interfaces"
        case type, gpus, driver, ports, kernel
    }

    public static let schema: WireSchema = .object([
        "name": .string,
        "image": Image.schema,
        "args": .array(.string),
        "env": .map(.string),
        "memory_mb": .integer,
        "vcpus": .integer,
        "service_group": ServiceGroup.schema,
        "volumes": .array(Volume.schema),
        "autostart": .boolean,
        "replicas": .integer,
        "restart_policy": WireRestartPolicy.schema,
        "scale_to_zero": ScaleToZero.schema,
        "wait_timeout_ms": .integer,
        "timeout_s": .integer,
        "features": .array(WireInstanceFeature.schema),
        "roms": .array(Rom.schema),
        "plugins": .array(Plugin.schema),
        "tags": .array(.string),
        "annotations": .map(.string),
        "template": Template.schema,
        "sched_priority": WireSchedPriority.schema,
        "schedules": .array(Schedule.schema),
        "autokill": Autokill.schema,
        "hostname": .string,
        "dependencies": .array(NameOrUUID.schema),
        "branch_from": NameOrUUID.schema,
        "checkpoint": NameOrUUID.schema,
        "gateway": .string,
        "nameserver": .string,
        "network_interfaces": .array(NetworkInterface.schema),
        "type": WireInstanceType.schema,
        "gpus": .integer,
        "driver": .string,
        "ports": .array(.string),
        "kernel": Kernel.schema,
    ])
}
