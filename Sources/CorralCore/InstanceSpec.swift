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
        deleteLock: Bool = false
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
    }

    public var deleteOnStop: Bool { features.contains(.deleteOnStop) }
}
