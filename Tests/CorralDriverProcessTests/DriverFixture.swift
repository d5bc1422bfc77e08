import CorralCore
import CorralDriverProcess
import CorralHost
import CorralShimFormat
import CorralTestSupport
import Foundation
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

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

    /// Why the driver tests cannot run here; nil when they can.
    static let skipReason: String? = {
        if getuid() != 0 { return "needs root to create cgroups" }
        if shimPath == nil { return "corral-shim is not built next to the test bundle" }
        switch CgroupLayout.current() {
        case .none: return "no cgroup file system mounted"
        case .v1(let mounts):
            for mount in Set(mounts.values) where !FileSystem.isWritableDirectory(mount) {
                return "cgroup hierarchy \(mount) is not writable"
            }
        case .v2(let mount):
            if !FileSystem.isWritableDirectory(mount) { return "cgroup hierarchy \(mount) is not writable" }
        }
        return nil
    }()

    static var canRun: Bool {
        if let skipReason { print("skipping process driver test: \(skipReason)") }
        return skipReason == nil
    }
}

/// A state directory, a unique cgroup parent and a driver over them; everything is
/// removed by `withFixture` whatever the test did.
final class DriverFixture: Sendable {
    let stateDirectory: String
    let cgroupParent: String
    let shimPath: String
    let logBoundBytes: Int
    let sink = CollectingSink()
    let driver: ProcessDriver
    private let started = Mutex<Set<UUID>>([])
    private let drivers = Mutex<[ProcessDriver]>([])

    /// `shim` stands in for `corral-shim`, written into the state directory.
    init(logBoundBytes: Int, shim: String? = nil) throws {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        stateDirectory = NSTemporaryDirectory() + "corral-driver-test-\(suffix)"
        cgroupParent = "corral-test-\(suffix)"
        shimPath = shim == nil ? try #require(TestHost.shimPath) : stateDirectory + "/fake-shim"
        self.logBoundBytes = logBoundBytes
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        if let shim {
            // Through a close-on-exec descriptor: one inherited by a process another test
            // forks meanwhile would make running it fail with ETXTBSY.
            try RawFile.writeAtomically(shimPath, Array(shim.utf8), durable: false, mode: 0o755)
        }
        driver = ProcessDriver(
            stateDirectory: stateDirectory, shimPath: shimPath, cgroupParent: cgroupParent,
            logBoundBytes: logBoundBytes, events: sink, logger: Logger(label: "test")
        )
        drivers.withLock { $0.append(driver) }
    }

    /// Another driver over the same state: what a restarted daemon would create.
    func restartedDriver(sink: any DriverEventSink) -> ProcessDriver {
        let driver = ProcessDriver(
            stateDirectory: stateDirectory, shimPath: shimPath, cgroupParent: cgroupParent,
            logBoundBytes: logBoundBytes, events: sink, logger: Logger(label: "test")
        )
        drivers.withLock { $0.append(driver) }
        return driver
    }

    func spec(_ args: [String], memoryMB: Int = 64, env: [String: String] = [:]) -> InstanceSpec {
        InstanceSpec(driver: "process", args: args, env: env, memoryMB: memoryMB, vcpus: 1)
    }

    func start(_ args: [String], memoryMB: Int = 64, uuid: UUID = UUID(), on driver: ProcessDriver? = nil) async throws
        -> (UUID, StartedInstance)
    {
        started.withLock { _ = $0.insert(uuid) }
        let started = try await (driver ?? self.driver).start(
            StartRequest(uuid: uuid, name: "test", spec: spec(args, memoryMB: memoryMB))
        )
        return (uuid, started)
    }

    func instanceDirectory(_ uuid: UUID) -> String {
        "\(stateDirectory)/instances/\(uuid.uuidString.lowercased())"
    }

    /// The retained log as text, read synchronously so it can be polled.
    func logText(_ uuid: UUID) -> String {
        let chunk = try? InstanceLog(directory: instanceDirectory(uuid)).read(offset: nil, limit: 1 << 20)
        return String(decoding: chunk?.bytes ?? [], as: UTF8.self)
    }

    func cgroup(_ uuid: UUID) -> InstanceCgroup {
        InstanceCgroup(layout: CgroupLayout.current(), parent: cgroupParent, name: uuid.uuidString.lowercased())
    }

    func tearDown() async {
        for uuid in started.withLock({ $0 }) { try? await driver.destroy(uuid) }
        for driver in drivers.withLock({ $0 }) { driver.shutdown() }
        cgroup(UUID()).removeParentIfEmpty()
        try? FileManager.default.removeItem(atPath: stateDirectory)
    }
}

func withFixture(
    logBoundBytes: Int = 8 << 20, shim: String? = nil, _ body: (DriverFixture) async throws -> Void
) async throws {
    let fixture = try DriverFixture(logBoundBytes: logBoundBytes, shim: shim)
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
