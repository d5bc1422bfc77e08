/// What an image asks of the process it runs: the OCI image config's runtime part.
public struct ImageRuntimeConfig: Codable, Sendable, Equatable {
    public var entrypoint: [String]
    public var cmd: [String]
    /// `KEY=VALUE` entries, in the image's order.
    public var env: [String]
    public var workingDir: String?
    /// `user`, `uid`, `user:group` or `uid:gid`, as in the image config.
    public var user: String?
    /// Ports the image declares (`80/tcp`), informational.
    public var exposedPorts: [String]
    /// The image config's `Labels`; empty when it has none, and when decoding a
    /// config stored before labels were kept.
    public var labels: [String: String]

    public init(
        entrypoint: [String] = [],
        cmd: [String] = [],
        env: [String] = [],
        workingDir: String? = nil,
        user: String? = nil,
        exposedPorts: [String] = [],
        labels: [String: String] = [:]
    ) {
        self.entrypoint = entrypoint
        self.cmd = cmd
        self.env = env
        self.workingDir = workingDir
        self.user = user
        self.exposedPorts = exposedPorts
        self.labels = labels
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        entrypoint = try container.decode([String].self, forKey: .entrypoint)
        cmd = try container.decode([String].self, forKey: .cmd)
        env = try container.decode([String].self, forKey: .env)
        workingDir = try container.decodeIfPresent(String.self, forKey: .workingDir)
        user = try container.decodeIfPresent(String.self, forKey: .user)
        exposedPorts = try container.decode([String].self, forKey: .exposedPorts)
        labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
    }
}

/// When an image is fetched from its source.
public enum PullPolicy: String, Codable, Sendable, CaseIterable {
    case always
    case ifNotPresent = "if_not_present"
    case never
}

/// An image reference resolved to the content it names.
public struct ResolvedImage: Sendable, Equatable {
    /// The reference as the user gave it, normalised (`busybox:latest`).
    public var reference: String
    /// `sha256:<hex>` of the image manifest: what instances are pinned to.
    public var digest: String
    public var config: ImageRuntimeConfig

    public init(reference: String, digest: String, config: ImageRuntimeConfig) {
        self.reference = reference
        self.digest = digest
        self.config = config
    }

    /// `reference@digest`, as an instance reports its image.
    public var pinned: String {
        let name = reference.split(separator: "@").first.map(String.init) ?? reference
        return "\(name)@\(digest)"
    }
}

/// The image store as drivers and the engine see it.
public protocol ImageProvider: Sendable {
    /// Resolves a reference (a name with tag, `name@sha256:…`, or a bare digest) to
    /// a digest, pulling per `policy`. Throws `notFound` with `never` and no local copy.
    func resolve(_ reference: String, policy: PullPolicy) async throws(CorralError) -> ResolvedImage

    /// The read-only root filesystem unpacked from an image, unpacking it on first
    /// use; shared by every instance of that image.
    func rootfs(digest: String) async throws(CorralError) -> String

    /// The runtime config of a stored image.
    func config(digest: String) async throws(CorralError) -> ImageRuntimeConfig
}

/// An image held by the store.
public struct StoredImage: Codable, Sendable, Equatable {
    /// `sha256:<hex>` of the manifest.
    public var digest: String
    /// The names (`busybox:latest`, `registry.local:5000/app:1`) that point at it.
    public var references: [String]
    /// Total size of its blobs in bytes.
    public var sizeBytes: Int64
    public var createdAt: Double
    public var config: ImageRuntimeConfig

    public init(digest: String, references: [String], sizeBytes: Int64, createdAt: Double, config: ImageRuntimeConfig) {
        self.digest = digest
        self.references = references
        self.sizeBytes = sizeBytes
        self.createdAt = createdAt
        self.config = config
    }
}

/// Where an import reads from.
public enum ImageArchiveFormat: String, Codable, Sendable, CaseIterable {
    /// An OCI image layout in a tar (`skopeo copy … oci-archive:`).
    case ociArchive = "oci-archive"
    /// `docker save` output.
    case dockerArchive = "docker-archive"
    /// A plain tar of a root filesystem; becomes a one-layer image.
    case rootfsTar = "rootfs"
}

/// How a long pull or import is going, for progress displays.
public struct ImageProgress: Sendable, Equatable {
    public var layersDone: Int
    public var layersTotal: Int
    public var bytesDone: Int64
    public var message: String

    public init(layersDone: Int, layersTotal: Int, bytesDone: Int64, message: String) {
        self.layersDone = layersDone
        self.layersTotal = layersTotal
        self.bytesDone = bytesDone
        self.message = message
    }
}

/// Credentials and transport options for a registry pull.
public struct PullOptions: Sendable, Equatable {
    /// `user:password` for basic or bearer (token) auth.
    public var credentials: String?
    /// Plain HTTP / unverified TLS: only when asked for.
    public var insecure: Bool

    public init(credentials: String? = nil, insecure: Bool = false) {
        self.credentials = credentials
        self.insecure = insecure
    }
}

/// The full image store: what the API serves besides resolving for instances.
public protocol ImageStoreService: ImageProvider {
    func list() async throws(CorralError) -> [StoredImage]
    /// Pulls from a registry; `progress` is called as layers arrive.
    func pull(
        _ reference: String, options: PullOptions, progress: @escaping @Sendable (ImageProgress) -> Void
    ) async throws(CorralError) -> StoredImage
    /// Imports an archive from a path on the daemon's host, naming it `reference`
    /// (required for rootfs tars; archives may carry their own names).
    func importArchive(
        path: String, format: ImageArchiveFormat, reference: String?,
        progress: @escaping @Sendable (ImageProgress) -> Void
    ) async throws(CorralError) -> StoredImage
    /// Removes a name, and the image with its unpacked rootfs once no name points at
    /// it; `inUse` digests are refused with `conflict` unless only a name goes.
    func remove(_ reference: String, inUse: Set<String>) async throws(CorralError) -> [String]
    /// Removes every image whose digest is not in `inUse`; returns the digests removed.
    func prune(inUse: Set<String>) async throws(CorralError) -> [String]
}
