import CorralCore
import CorralDriverContainer
import CorralHost
import CorralTestSupport
import Foundation
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// An image store holding images whose root file systems the tests build.
final class FakeImageProvider: ImageProvider {
    struct Image: Sendable {
        var rootfs: String
        var config: ImageRuntimeConfig
    }

    private let images = Mutex<[String: Image]>([:])

    /// Stores an image and returns its pinned reference.
    func add(rootfs: String, config: ImageRuntimeConfig) -> String {
        let hex = (0..<4).map { _ in String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }.joined()
        images.withLock { $0["sha256:\(hex)"] = Image(rootfs: rootfs, config: config) }
        return "busybox@sha256:\(hex)"
    }

    func resolve(_ reference: String, policy: PullPolicy) async throws(CorralError) -> ResolvedImage {
        throw .unsupported("the fake image store resolves nothing")
    }

    func rootfs(digest: String) async throws(CorralError) -> String {
        guard let image = images.withLock({ $0[digest] }) else { throw .notFound("no image \(digest)") }
        return image.rootfs
    }

    func config(digest: String) async throws(CorralError) -> ImageRuntimeConfig {
        guard let image = images.withLock({ $0[digest] }) else { throw .notFound("no image \(digest)") }
        return image.config
    }
}

/// What the tests need from the host, found once.
enum TestHost {
    /// `corral-shim`, built next to the test bundle.
    static let shimPath: String? = {
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            return nil
        }
        let path = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("corral-shim").path
        return FileSystem.isExecutableFile(path) ? path : nil
    }()

    static let busybox = "/bin/busybox"

    static let standbyPath: String? = shimPath.map {
        URL(fileURLWithPath: $0).deletingLastPathComponent().appendingPathComponent("corral-standby").path
    }

    /// Why the container tests cannot run here; nil when they can.
    static let skipReason: String? = {
        if getuid() != 0 { return "needs root to run containers" }
        if shimPath == nil { return "corral-shim is not built next to the test bundle" }
        if ExecutableLookup.resolve("crun") == nil { return "crun is not installed" }
        if !FileSystem.isExecutableFile(busybox) { return "\(busybox) (busybox-static) is not installed" }
        if case .none = CgroupLayout.current() { return "no cgroup file system mounted" }
        let filesystems = (try? String(contentsOfFile: "/proc/filesystems", encoding: .utf8)) ?? ""
        if !filesystems.contains("\toverlay") { return "overlayfs is not available" }
        return nil
    }()

    static var canRun: Bool {
        if let skipReason { print("skipping container driver test: \(skipReason)") }
        return skipReason == nil
    }
}

/// A busybox root file system built from the host's busybox-static: every applet,
/// `/etc/passwd` and `/etc/group` with a user `app` (1000:1000, also in `extra`
/// 1001), and an `/etc/shadow` that says it is the container's.
enum BusyboxRootfs {
    static let passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    static let group = "root:x:0:\napp:x:1000:\nextra:x:1001:app\nnogroup:x:65534:\n"
    static let shadow = "container-shadow-marker\n"

    static func build(at root: String) throws {
        let manager = FileManager.default
        for directory in ["bin", "etc", "tmp", "root", "home/app", "proc", "sys", "dev"] {
            try manager.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
        }
        chmod("\(root)/tmp", 0o1777)
        try manager.copyItem(atPath: TestHost.busybox, toPath: "\(root)/bin/busybox")
        let list = try Process.output(TestHost.busybox, ["--list"])
        for applet in list.split(separator: "\n") where applet != "busybox" {
            try manager.createSymbolicLink(atPath: "\(root)/bin/\(applet)", withDestinationPath: "busybox")
        }
        try passwd.write(toFile: "\(root)/etc/passwd", atomically: true, encoding: .utf8)
        try group.write(toFile: "\(root)/etc/group", atomically: true, encoding: .utf8)
        try shadow.write(toFile: "\(root)/etc/shadow", atomically: true, encoding: .utf8)
        chmod("\(root)/etc/shadow", 0o600)
    }
}

extension Process {
    /// Runs a program to completion and returns its stdout.
    static func output(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// A state directory, a busybox image, a unique cgroup parent and a driver over
/// them; `withFixture` removes everything whatever the test did.
final class ContainerFixture: Sendable {
    let stateDirectory: String
    let rootfs: String
    let cgroupParent: String
    let shimPath: String
    let images = FakeImageProvider()
    let sink = CollectingSink()
    let driver: ContainerDriver
    /// The busybox image with no config of its own.
    let image: String
    private let started = Mutex<Set<UUID>>([])
    private let drivers = Mutex<[ContainerDriver]>([])

    init(networking: (any ContainerNetworking)? = nil, runtime: OCIRuntimeKind = .crun, standbys: Int = 0) throws {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let base = NSTemporaryDirectory() + "corral-container-test-\(suffix)"
        stateDirectory = "\(base)/state"
        rootfs = "\(base)/image-rootfs"
        cgroupParent = "corral-ctest-\(suffix)"
        shimPath = try #require(TestHost.shimPath)
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        try BusyboxRootfs.build(at: rootfs)
        image = images.add(rootfs: rootfs, config: ImageRuntimeConfig(env: ["PATH=/bin", "IMAGE_ONLY=from-image"]))
        driver = ContainerDriver(
            stateDirectory: stateDirectory, shimPath: shimPath, cgroupParent: cgroupParent, images: images,
            networking: networking, runtime: runtime, standbyProgram: TestHost.standbyPath, standbysPerImage: standbys,
            events: sink, logger: Logger(label: "test")
        )
        drivers.withLock { $0.append(driver) }
    }

    /// Another driver over the same state: what a restarted daemon would create.
    func restartedDriver(sink: any DriverEventSink, networking: (any ContainerNetworking)? = nil) -> ContainerDriver {
        let driver = ContainerDriver(
            stateDirectory: stateDirectory, shimPath: shimPath, cgroupParent: cgroupParent, images: images,
            networking: networking, events: sink, logger: Logger(label: "test")
        )
        drivers.withLock { $0.append(driver) }
        return driver
    }

    func spec(_ args: [String], image: String? = nil, memoryMB: Int = 64, env: [String: String] = [:]) -> InstanceSpec {
        InstanceSpec(driver: "container", image: image ?? self.image, args: args, env: env, memoryMB: memoryMB, vcpus: 1)
    }

    /// Marks `uuid` as one `tearDown` destroys.
    func track(_ uuid: UUID) {
        started.withLock { _ = $0.insert(uuid) }
    }

    func start(
        _ args: [String], image: String? = nil, memoryMB: Int = 64, env: [String: String] = [:], uuid: UUID = UUID(),
        name: String = "box"
    ) async throws -> (UUID, StartedInstance) {
        started.withLock { _ = $0.insert(uuid) }
        let started = try await driver.start(
            StartRequest(uuid: uuid, name: name, spec: spec(args, image: image, memoryMB: memoryMB, env: env))
        )
        return (uuid, started)
    }

    func instanceDirectory(_ uuid: UUID) -> String {
        "\(stateDirectory)/instances/\(uuid.uuidString.lowercased())"
    }

    func crunState(_ uuid: UUID) -> String {
        runtimeState(uuid, .crun)
    }

    func runtimeState(_ uuid: UUID, _ runtime: OCIRuntimeKind) -> String {
        "\(stateDirectory)/\(runtime.rawValue)/\(uuid.uuidString.lowercased())"
    }

    /// The retained log as text, read synchronously so it can be polled.
    func logText(_ uuid: UUID) -> String {
        let chunk = try? InstanceLog(directory: instanceDirectory(uuid)).read(offset: nil, limit: 1 << 20)
        return String(decoding: chunk?.bytes ?? [], as: UTF8.self)
    }

    func cgroup(_ uuid: UUID) -> InstanceCgroup {
        InstanceCgroup(layout: CgroupLayout.current(), parent: cgroupParent, name: uuid.uuidString.lowercased())
    }

    /// Every cgroup directory of the instance that exists, in any hierarchy.
    /// What an instance left on the host: its directory, crun's state, its cgroups.
    func leftovers(_ uuid: UUID) -> [String] {
        [instanceDirectory(uuid), crunState(uuid)].filter { FileManager.default.fileExists(atPath: $0) }
            + cgroupDirectories(uuid)
    }

    func cgroupDirectories(_ uuid: UUID) -> [String] {
        let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        let mounts = CgroupLayout.mountPoints(mountinfo: mountinfo)
        return (mounts.v1 + mounts.v2)
            .map { "\($0)/\(cgroupParent)/\(uuid.uuidString.lowercased())" }
            .filter { FileManager.default.fileExists(atPath: $0) }
    }

    func tearDown() async {
        for driver in drivers.withLock({ $0 }) { await driver.discardStandbys(close: true) }
        for uuid in started.withLock({ $0 }) { try? await driver.destroy(uuid) }
        for driver in drivers.withLock({ $0 }) { driver.shutdown() }
        let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        let mounts = CgroupLayout.mountPoints(mountinfo: mountinfo)
        for mount in mounts.v1 + mounts.v2 { rmdir("\(mount)/\(cgroupParent)") }
        try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: stateDirectory).deletingLastPathComponent().path)
    }
}

func withFixture(
    networking: (any ContainerNetworking)? = nil,
    runtime: OCIRuntimeKind = .crun,
    standbys: Int = 0,
    _ body: (ContainerFixture) async throws -> Void
) async throws {
    let fixture = try ContainerFixture(networking: networking, runtime: runtime, standbys: standbys)
    do {
        try await body(fixture)
    } catch {
        await fixture.tearDown()
        throw error
    }
    await fixture.tearDown()
}

/// Waits until `condition` holds, up to `timeout`.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

extension CorralError {
    /// Runs `body` and returns the `CorralError` it threw, or nil.
    static func caught(_ body: () async throws -> Void) async -> CorralError? {
        do {
            try await body()
            return nil
        } catch let error as CorralError {
            return error
        } catch {
            return CorralError(.internal, "unexpected error", cause: error)
        }
    }
}
