#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CorralCore
import CorralHost
import CorralShimFormat
import Foundation
import Logging
import Synchronization

/// Corral's content-addressed OCI image store.
///
/// Layout under `Configuration.root`:
///
/// ```
/// index.lock         flock: held exclusive while the catalog / oci/index.json change
/// content.lock       flock: shared while content is added, exclusive while it is deleted
/// oci/               one OCI image layout shared by every image:
///   oci-layout, index.json (one entry per image, tagged sha256-<hex>), blobs/sha256/<hex>
/// rootfs/<hex>/      the unpacked root filesystem of manifest sha256:<hex>
/// tmp/               work directories of operations in progress
/// ```
///
/// The catalog (digest → names, created time, size; the source of truth) lives in
/// the state store (`ImageIndexStore`).
///
/// Every operation is safe to interrupt: content is written beside its final
/// name and renamed into place, the catalog is replaced in one transaction only
/// after the blobs it names exist, and whatever a crash leaves unreachable is
/// collected by the next `remove` or `prune`. Several `ImageStore` objects may
/// share a root if they share its index store.
///
/// Images are named by the digest of their OCI manifest. Images pulled from a
/// registry in Docker's manifest format are stored converted to OCI (as skopeo
/// writes them), so their digest here differs from the registry's; a reference
/// pulled by registry digest (`name@sha256:…`) is recorded as a name and resolves
/// to the stored digest.
public final class ImageStore: ImageStoreService {
    public struct Configuration: Sendable {
        /// The store's directory (corrald passes `<state>/images`). Absolute, without ':'.
        public var root: String
        /// skopeo, for pulls and archive imports; nil when not installed.
        public var skopeoPath: String?
        /// umoci, for unpacking; nil when not installed.
        public var umociPath: String?
        /// A statically linked busybox the base image is built from.
        public var busyboxPath: String
        /// gzip and zstd, to decompress layers for the safety scan.
        public var gzipPath: String?
        public var zstdPath: String?
        /// Registries (`host:port`) reached over plain HTTP or unverified TLS even
        /// when a pull does not ask for it (pulls started by `resolve`).
        public var insecureRegistries: Set<String>
        public var pullTimeout: Duration
        public var importTimeout: Duration
        public var unpackTimeout: Duration

        public init(
            root: String,
            skopeoPath: String? = ExecutableLookup.resolve("skopeo"),
            umociPath: String? = ExecutableLookup.resolve("umoci"),
            busyboxPath: String = "/bin/busybox",
            gzipPath: String? = ExecutableLookup.resolve("gzip"),
            zstdPath: String? = ExecutableLookup.resolve("zstd"),
            insecureRegistries: Set<String> = [],
            pullTimeout: Duration = .seconds(1800),
            importTimeout: Duration = .seconds(1800),
            unpackTimeout: Duration = .seconds(1800)
        ) {
            self.root = root
            self.skopeoPath = skopeoPath
            self.umociPath = umociPath
            self.busyboxPath = busyboxPath
            self.gzipPath = gzipPath
            self.zstdPath = zstdPath
            self.insecureRegistries = insecureRegistries
            self.pullTimeout = pullTimeout
            self.importTimeout = importTimeout
            self.unpackTimeout = unpackTimeout
        }
    }

    /// The name of the base image the store builds from the host's busybox.
    public static let busyboxReference = "busybox:latest"

    public let configuration: Configuration
    let logger: Logger
    let root: String
    let layout: OCILayout
    let indexLock: FileLock
    let contentLock: FileLock
    let skopeoGlobalArguments: [String]
    let unpacks = SingleFlight<String>()
    let builds = SingleFlight<StoredImage>()
    let configCache = Mutex<[ImageDigest: ImageRuntimeConfig]>([:])
    let index: any ImageIndexStore

    /// Where older Corrals kept the catalog; imported once.
    var legacyCatalogPath: String { "\(root)/images.json" }
    var rootfsDirectory: String { "\(root)/rootfs" }
    var workDirectory: String { "\(root)/tmp" }

    /// Opens (creating if needed) the store at `configuration.root`.
    ///
    /// Missing tools do not fail this: operations that need them throw
    /// `unavailable`, and `missingTools` lists them. An `images.json` left by an
    /// older Corral is imported into `index` (see `importLegacyCatalog`).
    public init(
        configuration: Configuration, index: any ImageIndexStore, logger: Logger = Logger(label: "corral.images")
    ) throws(CorralError) {
        var root = configuration.root
        while root.count > 1, root.hasSuffix("/") { root.removeLast() }
        guard root.hasPrefix("/") else {
            throw .invalidArgument("failed to open image store: '\(configuration.root)' is not an absolute path")
        }
        guard !root.contains(":") else {
            throw .invalidArgument("failed to open image store: '\(root)' contains ':', which skopeo and umoci cannot address")
        }
        self.configuration = configuration
        self.index = index
        self.logger = logger
        self.root = root
        self.layout = OCILayout(path: "\(root)/oci")
        self.indexLock = FileLock(path: "\(root)/index.lock")
        self.contentLock = FileLock(path: "\(root)/content.lock")

        let policyPath = "\(root)/policy.json"
        if RawFile.exists("/etc/containers/policy.json") {
            skopeoGlobalArguments = []
        } else {
            skopeoGlobalArguments = ["--policy", policyPath]
        }
        do throws(SystemCallError) {
            try FileSystem.makeDirectories(root, mode: 0o700)
            try FileSystem.makeDirectories(rootfsDirectory)
            try FileSystem.makeDirectories(workDirectory, mode: 0o700)
            if !skopeoGlobalArguments.isEmpty, !RawFile.exists(policyPath) {
                // Without a host policy, accept what the store fetches: digests are verified, signatures are not used.
                try RawFile.writeAtomically(
                    policyPath, Array(#"{"default":[{"type":"insecureAcceptAnything"}]}"#.utf8), durable: true
                )
            }
        } catch {
            throw .internal("failed to open image store \(root): \(error)")
        }
        try layout.create()
        try importLegacyCatalog()
    }

    /// Host tools the store would use and cannot find, for `corral doctor`.
    public var missingTools: [String] {
        var missing: [String] = []
        if configuration.skopeoPath == nil { missing.append("skopeo (pull, import oci-archive/docker-archive)") }
        if configuration.umociPath == nil { missing.append("umoci (unpack)") }
        if configuration.gzipPath == nil { missing.append("gzip (scan gzip layers)") }
        if !FileSystem.isExecutableFile(configuration.busyboxPath) {
            missing.append("\(configuration.busyboxPath) (busybox-static, the base image)")
        }
        return missing
    }

    // MARK: - ImageProvider

    /// Resolves `reference` to a stored image, fetching it per `policy`.
    ///
    /// A bare `sha256:…` must already be stored (never fetched). `busybox:latest`
    /// (`busybox`) is built from the host's busybox when absent, unless `policy` is
    /// `always`, which pulls it from Docker Hub like any other name. With `never`
    /// an absent image throws `notFound`. A `name@sha256:…` whose digest is stored
    /// resolves to it whatever the name.
    public func resolve(_ reference: String, policy: PullPolicy) async throws(CorralError) -> ResolvedImage {
        if reference.hasPrefix("sha256:") {
            let digest = try ImageDigest.parse(reference, action: "resolve image '\(reference)'")
            guard let record = try readCatalog().record(for: digest) else {
                throw .notFound("failed to resolve image '\(reference)': no stored image has this digest")
            }
            return ResolvedImage(
                reference: record.references.first ?? digest.description, digest: digest.description,
                config: try await config(digest: digest.description)
            )
        }
        let parsed = try ImageReference(parsing: reference)
        let name = parsed.description
        if policy != .always, let digest = try storedDigest(for: parsed) {
            return ResolvedImage(reference: name, digest: digest.description, config: try await config(digest: digest.description))
        }
        let image: StoredImage
        switch policy {
        case .never where name == Self.busyboxReference, .ifNotPresent where name == Self.busyboxReference:
            image = try await buildBusyboxImage()
        case .never:
            throw .notFound("failed to resolve image '\(reference)': not present locally and pull policy is never")
        case .ifNotPresent, .always:
            image = try await pull(reference, options: PullOptions(), progress: { _ in })
        }
        return ResolvedImage(reference: name, digest: image.digest, config: image.config)
    }

    /// The config of a stored image. Throws `notFound` for an image not in the store.
    public func config(digest text: String) async throws(CorralError) -> ImageRuntimeConfig {
        let digest = try ImageDigest.parse(text, action: "read image config")
        if let cached = configCache.withLock({ $0[digest] }) { return cached }
        guard try readCatalog().record(for: digest) != nil else {
            throw .notFound("failed to read image config: no stored image has digest \(digest)")
        }
        let config = try layout.readConfig(of: layout.readManifest(digest)).runtimeConfig
        configCache.withLock { $0[digest] = config }
        return config
    }

    // MARK: - Listing

    /// Every stored image, newest first. An image whose config cannot be read is
    /// listed with an empty config (and the failure logged).
    public func list() async throws(CorralError) -> [StoredImage] {
        var images: [StoredImage] = []
        for record in try readCatalog().images {
            images.append(try await storedImage(record))
        }
        return images.sorted { ($0.createdAt, $0.digest) > ($1.createdAt, $1.digest) }
    }

    func storedImage(_ record: ImageCatalog.Record) async throws(CorralError) -> StoredImage {
        var config = ImageRuntimeConfig()
        do throws(CorralError) {
            config = try await self.config(digest: record.digest)
        } catch {
            logger.warning("image config unreadable", metadata: ["digest": "\(record.digest)", "error": "\(error)"])
        }
        return StoredImage(
            digest: record.digest, references: record.references, sizeBytes: record.sizeBytes,
            createdAt: record.createdAt, config: config
        )
    }

    /// The stored digest a reference names: by name, or by its pinned digest.
    func storedDigest(for reference: ImageReference) throws(CorralError) -> ImageDigest? {
        let catalog = try readCatalog()
        if let record = catalog.record(named: reference.description), let digest = ImageDigest(record.digest) {
            return digest
        }
        if let pinned = reference.digest, catalog.record(for: pinned) != nil { return pinned }
        return nil
    }
}
