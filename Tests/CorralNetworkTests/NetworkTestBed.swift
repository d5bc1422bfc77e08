import CorralCore
import CorralHost
import CorralStore
import Foundation
import Synchronization
import Testing

@testable import CorralNetwork

#if canImport(Glibc)
import Glibc
#endif

/// Whether this host can run the network tests, and why not.
enum NetworkTestEnvironment {
    static let missing: String? = {
        if let reason = BridgeNetwork.unavailabilityReason() { return reason }
        if ExecutableLookup.resolve("busybox") == nil { return "the network tests need busybox (httpd, wget, nc)" }
        return nil
    }()

    static var available: Bool {
        if let missing {
            print("skipping network tests: \(missing)")
            return false
        }
        return true
    }
}

/// A network namespace created for one test (`corral-t-<random>`), in which the test
/// builds its bridge, NAT and published ports; deleted with everything the test
/// registered (instance namespaces, extra namespaces, processes, the state
/// directory) when `run` ends, whether the test passed, failed or threw.
final class NetworkTestBed: Sendable {
    let name: String
    let stateDirectory: String
    /// The leases of every network the test builds: one state store, as in corrald.
    private let store = Mutex<SQLiteStateStore?>(nil)
    private let shellWorker = NamespaceWorker(name: "corral-test-shell", namespacePath: nil)
    private let tracked = Mutex(Tracked())

    private struct Tracked {
        var namespaces: [String] = []
        var processes: [pid_t] = []
    }

    var path: String { NetworkTools.namespacePath(name) }

    private init() {
        let random = UUID().uuidString.lowercased().prefix(8)
        name = "corral-t-\(random)"
        stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("corral-net-\(random)").path
    }

    static func run<T: Sendable>(_ body: (NetworkTestBed) async throws -> T) async throws -> T {
        let bed = NetworkTestBed()
        do {
            try await bed.shell("ip", "netns", "add", bed.name)
            try await bed.shell("ip", "-n", bed.name, "link", "set", "lo", "up")
            let result = try await body(bed)
            await bed.destroy()
            return result
        } catch {
            await bed.destroy()
            throw error
        }
    }

    /// A bridge configuration living in this test's namespace.
    func configuration(bridge: String = "corral0", subnet: IPv4Subnet = .defaultInstanceSubnet) -> BridgeConfiguration {
        BridgeConfiguration(bridgeName: bridge, subnet: subnet, hostNamespacePath: path)
    }

    /// A network on `configuration()` whose leases live in this test's state store;
    /// a second call is what a restarted daemon opens.
    func network(bridge: String = "corral0", subnet: IPv4Subnet = .defaultInstanceSubnet) throws -> BridgeNetwork {
        try BridgeNetwork(configuration: configuration(bridge: bridge, subnet: subnet), leases: leases())
    }

    func leases() throws -> SQLiteStateStore {
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        return try store.withLock { (store: inout SQLiteStateStore?) throws(CorralError) -> SQLiteStateStore in
            if let store { return store }
            let opened = try SQLiteStateStore(directory: stateDirectory)
            store = opened
            return opened
        }
    }

    /// Deletes instance `id`'s namespace at the end, in case the test does not get to detach it.
    func track(_ id: UUID) {
        track(namespace: InstanceNetworkNames(id).namespaceName)
    }

    func track(namespace: String) {
        tracked.withLock { $0.namespaces.append(namespace) }
    }

    /// Runs a command to completion off the cooperative pool; throws unless it succeeds.
    @discardableResult
    func shell(_ command: String, _ arguments: String..., input: String? = nil) async throws -> String {
        try await shell(command, arguments, input: input)
    }

    @discardableResult
    func shell(_ command: String, _ arguments: [String], input: String? = nil) async throws -> String {
        let output = try await run(command, arguments, input: input)
        guard output.succeeded else {
            throw CorralError.internal("test command \(command) \(arguments.joined(separator: " ")) failed: \(output.standardError)")
        }
        return output.standardOutput
    }

    func run(
        _ command: String,
        _ arguments: [String],
        input: String? = nil,
        timeout: Duration = .seconds(20)
    ) async throws -> CommandOutput {
        try await shellWorker.run { () throws(CorralError) in
            try Subprocess.run(command, arguments, input: input, timeout: timeout)
        }
    }

    /// One fetch with busybox wget, bounded by the subprocess timeout: busybox's
    /// own `-T` crashes in busybox-static 1.35.
    private func wget(_ url: String, from namespace: String) async -> CommandOutput? {
        try? await run("ip", ["netns", "exec", namespace, "busybox", "wget", "-q", "-O", "-", url], timeout: .seconds(3))
    }

    /// Starts `command` in the background inside namespace `namespace`, until the end of the test.
    func startInNamespace(_ namespace: String, _ command: [String]) throws {
        let ip = try #require(ExecutableLookup.resolve("ip"))
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(devNull) }
        let pid = try DetachedSpawn.spawn(
            executable: ip,
            arguments: ["netns", "exec", namespace] + command,
            environment: ["PATH=\(ExecutableLookup.defaultSearchPath)"],
            descriptor: devNull
        )
        tracked.withLock { $0.processes.append(pid) }
    }

    /// Fetches `url` with busybox wget from inside `namespace`, retrying while the
    /// server may still be starting: at most `attempts` tries, 3 s each.
    func fetch(_ url: String, from namespace: String, attempts: Int = 30) async throws -> String {
        var lastError = ""
        for attempt in 0..<attempts {
            if let output = await wget(url, from: namespace) {
                if output.succeeded { return output.standardOutput }
                lastError = output.standardError
            } else {
                lastError = "timed out"
            }
            if attempt + 1 < attempts { try await Task.sleep(for: .milliseconds(100)) }
        }
        throw CorralError.unavailable("failed to fetch \(url) from \(namespace) after \(attempts) attempts: \(lastError)")
    }

    /// Whether one fetch of `url` from `namespace` succeeds.
    func canFetch(_ url: String, from namespace: String) async -> Bool {
        await wget(url, from: namespace)?.succeeded ?? false
    }

    /// The names of the veth interfaces in this test's namespace.
    func veths() async throws -> [String] {
        try await NetworkTools(timeout: .seconds(10)).linksVia(self, kind: "veth").map(\.ifname)
    }

    func namespaceExists(_ name: String) -> Bool {
        access(NetworkTools.namespacePath(name), F_OK) == 0
    }

    /// A directory with `index.html` holding `body`, for busybox httpd.
    func site(_ body: String) throws -> String {
        let directory = "\(stateDirectory)-www-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try body.write(toFile: "\(directory)/index.html", atomically: true, encoding: .utf8)
        return directory
    }

    private func destroy() async {
        let (namespaces, processes) = tracked.withLock { ($0.namespaces, $0.processes) }
        for pid in processes {
            kill(pid, SIGKILL)
            for _ in 0..<200 {
                if HostProcess.reapIfChild(pid) != nil { break }
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        for namespace in namespaces + [name] where namespaceExists(namespace) {
            _ = try? await run("ip", ["netns", "delete", namespace])
        }
        shellWorker.shutdown()
        try? store.withLock { try $0?.close() }
        let parent = (stateDirectory as NSString).deletingLastPathComponent
        let prefix = (stateDirectory as NSString).lastPathComponent
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where entry.hasPrefix(prefix) {
            try? FileManager.default.removeItem(atPath: "\(parent)/\(entry)")
        }
    }
}

extension NetworkTools {
    /// `links(kind:namespace:)` for a test's namespace, run off the cooperative pool.
    func linksVia(_ bed: NetworkTestBed, kind: String? = nil, namespace: String? = nil) async throws -> [LinkRecord] {
        let tools = self
        let target = namespace ?? bed.name
        return try await NamespaceWorker(name: "corral-test-links", namespacePath: nil).run { () throws(CorralError) in
            try tools.links(kind: kind, namespace: target)
        }
    }
}
