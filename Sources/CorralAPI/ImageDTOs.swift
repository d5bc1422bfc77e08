/// An image as `GET /v1/images` reports it: Unikraft Cloud's `Image`, plus
/// Corral's `digest`.
public struct ImageDTO: Codable, Sendable, Equatable {
    /// `name@sha256:…`, or the name alone.
    public var url: String?
    public var createdAt: String?
    public var sizeInBytes: Int?
    /// The image's default command: entrypoint then cmd.
    public var args: [String]?
    public var env: [String: String]?
    /// Every name pointing at this image.
    public var tags: [String]?
    /// Names of instances using it.
    public var users: [String]?
    public var digest: String?

    public init(
        url: String? = nil, createdAt: String? = nil, sizeInBytes: Int? = nil, args: [String]? = nil,
        env: [String: String]? = nil, tags: [String]? = nil, users: [String]? = nil, digest: String? = nil
    ) {
        self.url = url
        self.createdAt = createdAt
        self.sizeInBytes = sizeInBytes
        self.args = args
        self.env = env
        self.tags = tags
        self.users = users
        self.digest = digest
    }

    enum CodingKeys: String, CodingKey {
        case url, args, env, tags, users, digest
        case createdAt = "created_at"
        case sizeInBytes = "size_in_bytes"
    }
}

/// `data` of the image endpoints: `{"images": [...]}`.
public struct ImagesData: Codable, Sendable, Equatable {
    public var images: [ImageDTO]?

    public init(images: [ImageDTO]?) {
        self.images = images
    }
}

/// `POST /v1/images/pull` (Corral): fetch an image from a registry.
public struct ImagePullRequest: Codable, Sendable, Equatable, StrictDecodable {
    public var reference: String
    /// `user:password`.
    public var credentials: String?
    /// Plain HTTP or unverified TLS; only for registries you trust.
    public var insecure: Bool?

    public init(reference: String, credentials: String? = nil, insecure: Bool? = nil) {
        self.reference = reference
        self.credentials = credentials
        self.insecure = insecure
    }

    public static let schema: WireSchema = .object(["reference": .string, "credentials": .string, "insecure": .boolean])
}

/// `POST /v1/images/import` (Corral): import an archive from a path on the daemon's host.
public struct ImageImportRequest: Codable, Sendable, Equatable, StrictDecodable {
    public var path: String
    /// `oci-archive`, `docker-archive` or `rootfs`.
    public var format: String
    /// The name to give it; required for `rootfs`.
    public var name: String?

    public init(path: String, format: String, name: String? = nil) {
        self.path = path
        self.format = format
        self.name = name
    }

    public static let schema: WireSchema = .object([
        "path": .string, "format": .enumeration(["oci-archive", "docker-archive", "rootfs"]), "name": .string,
    ])
}

/// `POST /v1/images/remove` items (Corral): a name or digest to remove.
public struct ImageRemoveRequestItem: Codable, Sendable, Equatable, StrictDecodable {
    public var reference: String

    public init(reference: String) {
        self.reference = reference
    }

    public static let schema: WireSchema = .object(["reference": .string])
}

/// `POST /v1/instances/{id}/exec` (Corral): run a command in a running instance.
public struct ExecRequestDTO: Codable, Sendable, Equatable, StrictDecodable {
    public var command: [String]
    public var env: [String: String]?
    public var cwd: String?
    /// Base64 bytes fed to the command's standard input.
    public var stdin: String?
    public var timeoutS: Int?

    public init(command: [String], env: [String: String]? = nil, cwd: String? = nil, stdin: String? = nil, timeoutS: Int? = nil) {
        self.command = command
        self.env = env
        self.cwd = cwd
        self.stdin = stdin
        self.timeoutS = timeoutS
    }

    enum CodingKeys: String, CodingKey {
        case command, env, cwd, stdin
        case timeoutS = "timeout_s"
    }

    public static let schema: WireSchema = .object([
        "command": .array(.string), "env": .map(.string), "cwd": .string, "stdin": .string, "timeout_s": .integer,
    ])
}

/// The outcome of an exec: exit code and base64 output.
public struct ExecResultDTO: Codable, Sendable, Equatable {
    public var uuid: String?
    public var name: String?
    public var exitCode: Int
    public var stdout: String
    public var stderr: String

    public init(uuid: String?, name: String?, exitCode: Int, stdout: String, stderr: String) {
        self.uuid = uuid
        self.name = name
        self.exitCode = exitCode
        self.stdout = stdout
        self.stderr = stderr
    }

    enum CodingKeys: String, CodingKey {
        case uuid, name, stdout, stderr
        case exitCode = "exit_code"
    }
}

/// A file inside an instance: `GET /v1/instances/{id}/files?path=` answers it,
/// `PUT /v1/instances/{id}/files` takes it. `content` is base64.
public struct InstanceFileDTO: Codable, Sendable, Equatable, StrictDecodable {
    public var path: String
    public var content: String
    /// Permission bits for a new file (default 0644).
    public var mode: Int?

    public init(path: String, content: String, mode: Int? = nil) {
        self.path = path
        self.content = content
        self.mode = mode
    }

    public static let schema: WireSchema = .object(["path": .string, "content": .string, "mode": .integer])
}

/// How a pull or import is going.
public struct ImageProgressDTO: Codable, Sendable, Equatable {
    public var layersDone: Int
    /// 0 while unknown.
    public var layersTotal: Int
    public var bytesDone: Int
    public var message: String

    public init(layersDone: Int, layersTotal: Int, bytesDone: Int, message: String) {
        self.layersDone = layersDone
        self.layersTotal = layersTotal
        self.bytesDone = bytesDone
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case message
        case layersDone = "layers_done"
        case layersTotal = "layers_total"
        case bytesDone = "bytes_done"
    }
}

/// One line of a streamed pull or import (`?progress=true`, `application/x-ndjson`):
/// progress lines, then exactly one `result` line carrying the usual envelope.
public struct ImageStreamLine: Codable, Sendable, Equatable {
    public var progress: ImageProgressDTO?
    public var result: Envelope<ImagesData>?

    public init(progress: ImageProgressDTO? = nil, result: Envelope<ImagesData>? = nil) {
        self.progress = progress
        self.result = result
    }
}
