import CorralCore

/// Media types the store reads and writes.
enum OCIMediaType {
    static let imageManifest = "application/vnd.oci.image.manifest.v1+json"
    static let imageIndex = "application/vnd.oci.image.index.v1+json"
    static let imageConfig = "application/vnd.oci.image.config.v1+json"
    static let layer = "application/vnd.oci.image.layer.v1.tar"
    static let layerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    static let layerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
    static let nondistributableLayer = "application/vnd.oci.image.layer.nondistributable.v1.tar"
    static let nondistributableLayerGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    static let nondistributableLayerZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
    static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    static let dockerLayerUncompressed = "application/vnd.docker.image.rootfs.diff.tar"
}

/// Annotation keys of an OCI index.
enum OCIAnnotation {
    static let referenceName = "org.opencontainers.image.ref.name"
    static let containerdImageName = "io.containerd.image.name"
}

/// A content descriptor: what a blob is, its digest and its size.
struct OCIDescriptor: Codable, Sendable, Equatable {
    var mediaType: String
    var digest: String
    var size: Int64
    var annotations: [String: String]?

    init(mediaType: String, digest: String, size: Int64, annotations: [String: String]? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
    }
}

/// `index.json` of an image layout.
struct OCIIndex: Codable, Sendable {
    var schemaVersion: Int
    var mediaType: String?
    var manifests: [OCIDescriptor]

    init(manifests: [OCIDescriptor]) {
        self.schemaVersion = 2
        self.mediaType = OCIMediaType.imageIndex
        self.manifests = manifests
    }
}

/// An image manifest.
struct OCIManifest: Codable, Sendable {
    var schemaVersion: Int
    var mediaType: String?
    var config: OCIDescriptor
    var layers: [OCIDescriptor]

    init(config: OCIDescriptor, layers: [OCIDescriptor]) {
        self.schemaVersion = 2
        self.mediaType = OCIMediaType.imageManifest
        self.config = config
        self.layers = layers
    }
}

/// An image configuration: the parts the store reads or writes. Unknown fields
/// are ignored when reading.
struct OCIImageConfig: Codable, Sendable {
    struct Runtime: Codable, Sendable {
        var user: String?
        var exposedPorts: [String: EmptyObject]?
        var env: [String]?
        var entrypoint: [String]?
        var cmd: [String]?
        var workingDir: String?
        var labels: [String: String]?

        init(env: [String]? = nil, cmd: [String]? = nil) {
            self.env = env
            self.cmd = cmd
        }

        enum CodingKeys: String, CodingKey {
            case user = "User"
            case exposedPorts = "ExposedPorts"
            case env = "Env"
            case entrypoint = "Entrypoint"
            case cmd = "Cmd"
            case workingDir = "WorkingDir"
            case labels = "Labels"
        }
    }

    struct RootFS: Codable, Sendable {
        var type: String
        var diffIDs: [String]

        enum CodingKeys: String, CodingKey {
            case type
            case diffIDs = "diff_ids"
        }
    }

    struct History: Codable, Sendable {
        var created: String?
        var createdBy: String?

        enum CodingKeys: String, CodingKey {
            case created
            case createdBy = "created_by"
        }
    }

    var created: String?
    var architecture: String?
    var os: String?
    var config: Runtime?
    var rootfs: RootFS?
    var history: [History]?

    /// What an instance of the image runs.
    var runtimeConfig: ImageRuntimeConfig {
        let runtime = config ?? Runtime()
        let ports: [String] = (runtime.exposedPorts?.keys).map { $0.sorted() } ?? []
        let labels: [String: String] = runtime.labels ?? [:]
        return ImageRuntimeConfig(
            entrypoint: runtime.entrypoint ?? [],
            cmd: runtime.cmd ?? [],
            env: runtime.env ?? [],
            workingDir: runtime.workingDir.flatMap { $0.isEmpty ? nil : $0 },
            user: runtime.user.flatMap { $0.isEmpty ? nil : $0 },
            exposedPorts: ports,
            labels: labels
        )
    }

    /// The architecture name OCI uses for this host.
    static var hostArchitecture: String {
        #if arch(x86_64)
        "amd64"
        #elseif arch(arm64)
        "arm64"
        #elseif arch(arm)
        "arm"
        #elseif arch(i386)
        "386"
        #elseif arch(powerpc64le)
        "ppc64le"
        #elseif arch(s390x)
        "s390x"
        #elseif arch(riscv64)
        "riscv64"
        #else
        "unknown"
        #endif
    }
}

/// `{}` in JSON, whatever it holds.
struct EmptyObject: Codable, Sendable, Equatable {
    init() {}
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws {
        _ = encoder.container(keyedBy: NoKeys.self)
    }

    private enum NoKeys: CodingKey {}
}
