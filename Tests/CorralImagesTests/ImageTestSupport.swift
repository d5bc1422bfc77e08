@testable import CorralImages
import CorralCore
import CorralHost
import CorralStore
import Foundation
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Host tools the image tests drive for real.
enum ImageTools {
    static let skopeo = ExecutableLookup.resolve("skopeo")
    static let umoci = ExecutableLookup.resolve("umoci")
    static let registry = ExecutableLookup.resolve("docker-registry")
    static let gzip = ExecutableLookup.resolve("gzip")
    static let tar = ExecutableLookup.resolve("tar")
    static let chroot = ExecutableLookup.resolve("chroot")
    static let busybox = "/bin/busybox"
    static let haveBusybox = FileSystem.isExecutableFile(busybox)
    static let isRoot = getuid() == 0

    /// Why a test needing `tools` cannot run here; nil when it can. Printed when skipped.
    static func missing(_ tools: [(String, Bool)]) -> String? {
        let absent = tools.filter { !$0.1 }.map(\.0)
        guard !absent.isEmpty else { return nil }
        let reason = "missing on this host: \(absent.joined(separator: ", "))"
        print("skipping: \(reason)")
        return reason
    }

    static var unpackMissing: String? {
        missing([("umoci", umoci != nil), ("/bin/busybox (busybox-static)", haveBusybox), ("gzip", gzip != nil)])
    }

    static var archiveMissing: String? {
        missing([
            ("skopeo", skopeo != nil), ("umoci", umoci != nil), ("/bin/busybox (busybox-static)", haveBusybox),
            ("gzip", gzip != nil),
        ])
    }

    static var registryMissing: String? {
        missing([
            ("skopeo", skopeo != nil), ("umoci", umoci != nil), ("docker-registry", registry != nil),
            ("/bin/busybox (busybox-static)", haveBusybox),
        ])
    }
}

/// A directory of its own for one test, removed when the test ends.
final class ScratchDirectory: @unchecked Sendable {
    let path: String
    /// One state store per image store root, as corrald has: reopening an image
    /// store reuses its index.
    private let states = Mutex<[String: SQLiteStateStore]>([:])

    init() throws {
        path = "/tmp/corral-images-test-\(UUID().uuidString.lowercased())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        states.withLock { states in
            for store in states.values { try? store.close() }
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    func store(_ name: String = "store", logger: Logger = Logger(label: "test"), insecure: Set<String> = []) throws -> ImageStore {
        try store(configuration: .init(root: "\(path)/\(name)", insecureRegistries: insecure), logger: logger)
    }

    func store(configuration: ImageStore.Configuration, logger: Logger = Logger(label: "test")) throws -> ImageStore {
        try ImageStore(configuration: configuration, index: index(for: configuration.root), logger: logger)
    }

    /// The state store holding the index of the image store at `root`.
    func index(for root: String) throws -> SQLiteStateStore {
        let directory = root + "-state"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return try states.withLock { (states: inout [String: SQLiteStateStore]) throws(CorralError) -> SQLiteStateStore in
            if let open = states[directory] { return open }
            let opened = try SQLiteStateStore(directory: directory)
            states[directory] = opened
            return opened
        }
    }
}

/// Runs a tool and requires it to succeed.
@discardableResult
func runTool(_ executable: String?, _ arguments: [String], timeout: Duration = .seconds(120)) async throws -> CommandOutput {
    let path = try #require(executable)
    let output = try await CommandRunner.run(path, arguments, timeout: timeout, action: "run \(path)")
    try #require(output.status == 0, "\(path) \(arguments.joined(separator: " ")) failed: \(output.stderr)")
    return output
}

/// Writes an OCI image layout at `directory` holding one image made of `layers`
/// (uncompressed tars), tagged `tag`. Returns the manifest digest.
@discardableResult
func writeImageLayout(_ directory: String, layers: [[UInt8]], tag: String = "test") throws -> ImageDigest {
    let layout = OCILayout(path: directory)
    try layout.create()
    var descriptors: [OCIDescriptor] = []
    var diffIDs: [ImageDigest] = []
    for layer in layers {
        let descriptor = try layout.writeBlob(layer, mediaType: OCIMediaType.layer)
        descriptors.append(descriptor)
        diffIDs.append(try #require(ImageDigest(descriptor.digest)))
    }
    let image = try layout.writeImage(
        layers: descriptors, diffIDs: diffIDs, runtime: .init(env: ["PATH=/bin"], cmd: ["/bin/true"]), createdBy: "test"
    )
    var index = try layout.readIndex()
    index.manifests.append(
        OCIDescriptor(
            mediaType: OCIMediaType.imageManifest, digest: image.digest.description,
            size: Int64(try layout.readBlob(image.digest, action: "test").count),
            annotations: [OCIAnnotation.referenceName: tag]
        )
    )
    try layout.writeIndex(index)
    return image.digest
}

/// An image made of `layers`, packed by skopeo as an oci-archive and imported into `store`.
func importLayers(
    _ layers: [[UInt8]], into store: ImageStore, name: String, scratch: ScratchDirectory
) async throws -> StoredImage {
    let id = UUID().uuidString.lowercased()
    let layoutPath = "\(scratch.path)/layout-\(id)"
    try writeImageLayout(layoutPath, layers: layers)
    let archive = "\(scratch.path)/archive-\(id).tar"
    try await runTool(ImageTools.skopeo, ["copy", "oci:\(layoutPath):test", "oci-archive:\(archive)"])
    return try await store.importArchive(path: archive, format: .ociArchive, reference: name, progress: { _ in })
}

func tarArchive(_ entries: [TarWriter.Entry]) -> [UInt8] {
    var writer = TarWriter()
    for entry in entries { writer.append(entry) }
    return writer.finished()
}

func lstatInfo(_ path: String) -> stat? {
    var info = stat()
    return lstat(path, &info) == 0 ? info : nil
}

func symlinkTarget(_ path: String) -> String? {
    try? FileManager.default.destinationOfSymbolicLink(atPath: path)
}

/// Collects log messages, to observe what the store did.
final class LogCollector: Sendable {
    let messages = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "test") { _ in Handler(collector: self) }
    }

    func count(_ message: String) -> Int {
        messages.withLock { $0.filter { $0 == message }.count }
    }

    struct Handler: LogHandler {
        let collector: LogCollector
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            collector.messages.withLock { $0.append(event.message.description) }
        }
    }
}

/// A `docker-registry` (distribution v2) on a free loopback port, storing in `directory`.
final class LocalRegistry {
    let port: Int
    private let process: Process

    var host: String { "127.0.0.1:\(port)" }

    init(directory: String, htpasswd: String? = nil) async throws {
        let executable = try #require(ImageTools.registry)
        try FileManager.default.createDirectory(atPath: "\(directory)/data", withIntermediateDirectories: true)
        port = try Self.freePort()
        var config = """
            version: 0.1
            log:
              level: warn
            storage:
              filesystem:
                rootdirectory: \(directory)/data
            http:
              addr: 127.0.0.1:\(port)

            """
        if let htpasswd {
            try htpasswd.write(toFile: "\(directory)/htpasswd", atomically: true, encoding: .utf8)
            config += """
                auth:
                  htpasswd:
                    realm: corral-test
                    path: \(directory)/htpasswd

                """
        }
        try config.write(toFile: "\(directory)/config.yml", atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve", "\(directory)/config.yml"]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        let deadline = ContinuousClock.now + .seconds(15)
        while !Self.accepts(port) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                stop()
                throw CorralError.unavailable("failed to start docker-registry on port \(port)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// SIGTERM, then SIGKILL after 5 s; returns once it has exited (at most ~10 s).
    func stop() {
        guard process.isRunning else { return }
        let pid = process.processIdentifier
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning, ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning {
            kill(pid, SIGKILL)
            let hard = ContinuousClock.now + .seconds(5)
            while process.isRunning, ContinuousClock.now < hard { usleep(20_000) }
        }
    }

    deinit { stop() }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CorralError.internal("socket failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw CorralError.internal("bind failed") }
        let named = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw CorralError.internal("getsockname failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
