import CorralCore
import CorralHost
import CorralTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import CorralDriverVM

#if canImport(Glibc)
import Glibc
#endif

/// Serves one busybox rootfs as every image digest it is asked for.
struct BusyboxImages: ImageProvider {
    let rootfsPath: String
    let config: ImageRuntimeConfig

    static let digest = "sha256:" + String(repeating: "ab", count: 32)
    static let reference = "busybox@\(digest)"

    func resolve(_ reference: String, policy: PullPolicy) async throws(CorralError) -> ResolvedImage {
        ResolvedImage(reference: "busybox", digest: Self.digest, config: config)
    }

    func rootfs(digest: String) async throws(CorralError) -> String { rootfsPath }

    func config(digest: String) async throws(CorralError) -> ImageRuntimeConfig { config }

    /// A minimal busybox rootfs: /bin/busybox with applet links, /etc/passwd and
    /// /etc/group, and the usual empty directories.
    static func make(at root: String) throws {
        let manager = FileManager.default
        for directory in ["bin", "etc", "dev", "proc", "sys", "tmp", "root", "run"] {
            try manager.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
        }
        try manager.copyItem(atPath: "/bin/busybox", toPath: "\(root)/bin/busybox")
        for applet in ["sh", "echo", "sleep", "cat", "ls", "id", "hostname", "env", "pwd", "ip", "ping", "true", "false"] {
            try manager.createSymbolicLink(atPath: "\(root)/bin/\(applet)", withDestinationPath: "busybox")
        }
        try "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
            .write(toFile: "\(root)/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\napp:x:1000:\nextra:x:2000:app\n".write(toFile: "\(root)/etc/group", atomically: true, encoding: .utf8)
        chmod("\(root)/tmp", 0o1777)
    }
}

/// A state directory, a busybox image and a `vm` driver for one test.
struct VMFixture {
    let scratch: ScratchDirectory
    let sink = CollectingSink()
    let images: BusyboxImages
    let configuration: VMDriverConfiguration

    var stateDirectory: String { configuration.stateDirectory }

    static func run<T>(bootTimeout: Duration = .seconds(120), _ body: (VMFixture) async throws -> T) async throws -> T {
        try await ScratchDirectory.run { scratch in
            let rootfs = "\(scratch.path)/rootfs"
            try BusyboxImages.make(at: rootfs)
            let images = BusyboxImages(
                rootfsPath: rootfs, config: ImageRuntimeConfig(cmd: ["sh"], env: ["GREETING=from-image", "PATH=/bin"])
            )
            let configuration = VMDriverConfiguration(
                stateDirectory: "\(scratch.path)/state",
                shimPath: VMTestHost.shimPath ?? "",
                agentPath: VMTestHost.agentPath ?? "",
                cgroupParent: "corral-vmtest-\(scratch.path.suffix(8))",
                bootTimeout: bootTimeout
            )
            let fixture = VMFixture(scratch: scratch, images: images, configuration: configuration)
            defer { fixture.removeCgroupParent() }
            do {
                let result = try await body(fixture)
                await fixture.endLeftovers()
                return result
            } catch {
                await fixture.endLeftovers()
                throw error
            }
        }
    }

    func driver() -> VMDriver {
        var logger = Logger(label: "corral.test.vm")
        logger.logLevel = .debug
        return VMDriver(configuration: configuration, images: images, events: sink, logger: logger)
    }

    func spec(args: [String], env: [String: String] = [:], memoryMB: Int = 256) -> InstanceSpec {
        InstanceSpec(driver: "vm", image: BusyboxImages.reference, args: args, env: env, memoryMB: memoryMB, vcpus: 1)
    }

    func instanceDirectory(_ uuid: UUID) -> String {
        "\(stateDirectory)/instances/\(uuid.uuidString.lowercased())"
    }

    /// The log as text, once it contains `marker` or `timeout` passed.
    func log(of driver: VMDriver, _ uuid: UUID, containing marker: String, timeout: Duration) async -> String {
        let deadline = ContinuousClock.now + timeout
        var text = ""
        while ContinuousClock.now < deadline {
            if let chunk = try? await driver.readLog(uuid, offset: 0, limit: 1 << 20) {
                text = String(decoding: chunk.bytes, as: UTF8.self)
                if text.contains(marker) { return text }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return text
    }

    /// The instance cgroup directories that exist.
    func cgroupDirectories(_ uuid: UUID) -> [String] {
        let layout = CgroupLayout.current()
        let cgroup = InstanceCgroup(layout: layout, parent: configuration.cgroupParent, name: uuid.uuidString.lowercased())
        return cgroup.directories.filter { FileManager.default.fileExists(atPath: $0) }
    }

    func removeCgroupParent() {
        let layout = CgroupLayout.current()
        InstanceCgroup(layout: layout, parent: configuration.cgroupParent, name: "x").removeParentIfEmpty()
    }

    /// Whether a process whose command line mentions `needle` runs.
    static func processRunning(mentioning needle: String) -> Bool {
        !processes(mentioning: needle).isEmpty
    }

    /// The live processes whose command line mentions `needle`.
    static func processes(mentioning needle: String) -> [Int32] {
        var found: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            if String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\0", with: " ").contains(needle),
               let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
               !stat.contains(") Z ") {
                found.append(pid)
            }
        }
        return found
    }

    /// Ends what a test that failed half-way left: every shim and QEMU of this
    /// fixture's state directory is killed, then its instances' cgroups removed.
    func endLeftovers() async {
        let left = Self.processes(mentioning: stateDirectory)
        guard !left.isEmpty else { return }
        print("ending \(left.count) process(es) a failed test left: \(left)")
        for pid in left { kill(pid, SIGKILL) }
        let layout = CgroupLayout.current()
        // Instance cgroups have the same names in every hierarchy: the first one lists them.
        guard let first = InstanceCgroup(layout: layout, parent: configuration.cgroupParent, name: "x").directories.first
        else { return }
        let parent = (first as NSString).deletingLastPathComponent
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: "\(parent)/\(name)", isDirectory: &isDirectory), isDirectory.boolValue
            else { continue }
            try? await InstanceCgroup(layout: layout, parent: configuration.cgroupParent, name: name).remove()
        }
    }
}
