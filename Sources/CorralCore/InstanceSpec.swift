/// What the user asked an instance to be. Written by the API, read by drivers.
public struct InstanceSpec: Codable, Sendable, Equatable {
    /// The driver that runs this instance (`process`, `container`, `vm`, or a plugin's name).
    public var driver: String
    /// The image reference, pinned to a digest where the driver uses images.
    public var image: String?
    /// The command and its arguments.
    public var args: [String]
    public var env: [String: String]
    public var memoryMB: Int
    public var vcpus: Int
    public var restartPolicy: RestartPolicy
    public var features: [InstanceFeature]
    public var tags: [String]
    public var annotations: [String: String]
    /// While set, the instance cannot be deleted.
    public var deleteLock: Bool
    /// Ports published on the host's loopback.
    public var ports: [PortMapping]
    /// The kernel of a `vm` instance; nil boots the driver's default.
    public var kernel: KernelSpec?
    /// Volumes created with the instance.
    public var volumes: [VolumeSpec]

    public init(
        driver: String,
        image: String? = nil,
        args: [String],
        env: [String: String] = [:],
        memoryMB: Int,
        vcpus: Int,
        restartPolicy: RestartPolicy = .never,
        features: [InstanceFeature] = [],
        tags: [String] = [],
        annotations: [String: String] = [:],
        deleteLock: Bool = false,
        ports: [PortMapping] = [],
        kernel: KernelSpec? = nil,
        volumes: [VolumeSpec] = []
    ) {
        self.driver = driver
        self.image = image
        self.args = args
        self.env = env
        self.memoryMB = memoryMB
        self.vcpus = vcpus
        self.restartPolicy = restartPolicy
        self.features = features
        self.tags = tags
        self.annotations = annotations
        self.deleteLock = deleteLock
        self.ports = ports
        self.kernel = kernel
        self.volumes = volumes
    }

    enum CodingKeys: String, CodingKey {
        case driver, image, args, env, memoryMB, vcpus, restartPolicy, features, tags, annotations, deleteLock, ports, kernel, volumes
    }

    /// Decodes records written before a field existed with that field's default.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        driver = try c.decode(String.self, forKey: .driver)
        image = try c.decodeIfPresent(String.self, forKey: .image)
        args = try c.decode([String].self, forKey: .args)
        env = try c.decode([String: String].self, forKey: .env)
        memoryMB = try c.decode(Int.self, forKey: .memoryMB)
        vcpus = try c.decode(Int.self, forKey: .vcpus)
        restartPolicy = try c.decode(RestartPolicy.self, forKey: .restartPolicy)
        features = try c.decode([InstanceFeature].self, forKey: .features)
        tags = try c.decode([String].self, forKey: .tags)
        annotations = try c.decode([String: String].self, forKey: .annotations)
        deleteLock = try c.decodeIfPresent(Bool.self, forKey: .deleteLock) ?? false
        ports = try c.decodeIfPresent([PortMapping].self, forKey: .ports) ?? []
        kernel = try c.decodeIfPresent(KernelSpec.self, forKey: .kernel)
        volumes = try c.decodeIfPresent([VolumeSpec].self, forKey: .volumes) ?? []
    }

    public var deleteOnStop: Bool { features.contains(.deleteOnStop) }
}
