import CorralCore
import CorralHost
import CorralVMAssets
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// What the vm driver tests need from the host, found once; each `missing…`
/// says why a test is skipped.
enum VMTestHost {
    /// A binary built next to the test bundle.
    static func sibling(_ name: String) -> String? {
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent()
        // swift-testing runs from <scratch>/debug/<bundle>.xctest or the bundle's own directory.
        for _ in 0..<3 {
            let path = directory.appendingPathComponent(name).path
            if FileSystem.isExecutableFile(path) { return path }
            directory = directory.deletingLastPathComponent()
        }
        return nil
    }

    static let qemu = ExecutableLookup.resolve("qemu-system-x86_64")
    static let shimPath = sibling("corral-shim")
    static let agentPath = sibling("corral-agent")
    static let kernel: VMKernel? = try? VMKernel.hostDefault()

    /// Why a real QEMU cannot be run here, or nil.
    static var missingQEMU: String? {
        qemu == nil ? "qemu-system-x86_64 is not installed (Debian package qemu-system-x86)" : nil
    }

    /// Why the agent tests cannot run, or nil.
    static var missingAgent: String? {
        agentPath == nil ? "corral-agent is not built next to the tests" : nil
    }

    /// Why a VM cannot be booted here, or nil.
    static var missingBoot: String? {
        if getuid() != 0 { return "booting VMs needs root" }
        if let missingQEMU { return missingQEMU }
        if let missingAgent { return missingAgent }
        if shimPath == nil { return "corral-shim is not built next to the tests" }
        if kernel == nil { return "no host kernel (Debian package linux-image-cloud-amd64)" }
        if ExecutableLookup.resolve("mkfs.ext4") == nil { return "mkfs.ext4 is missing (e2fsprogs)" }
        if !FileManager.default.isExecutableFile(atPath: "/bin/busybox") { return "busybox is missing (busybox-static)" }
        return nil
    }

    static func skip(_ reason: String?) -> Bool {
        guard let reason else { return false }
        print("skipped: \(reason)")
        return true
    }
}

/// A temporary directory removed at the end of `run`.
struct ScratchDirectory {
    let path: String

    static func run<T>(_ body: (ScratchDirectory) async throws -> T) async throws -> T {
        // Short: unix socket paths must stay under 108 bytes.
        let path = "/tmp/cvm-\(UUID().uuidString.lowercased().prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await body(ScratchDirectory(path: path))
    }
}

/// A process the test started, killed at the end of the test.
final class SpawnedProcess: Sendable {
    let pid: pid_t

    init(_ executable: String, _ arguments: [String]) throws {
        let devNull = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(devNull) }
        pid = try DetachedSpawn.spawn(
            executable: executable, arguments: arguments,
            environment: ["PATH=\(ExecutableLookup.defaultSearchPath)"], descriptor: devNull
        )
    }

    /// Whether it has exited (and been reaped), waiting up to `timeout`.
    func waitExit(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if HostProcess.reapIfChild(pid) != nil { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    func kill() async {
        Glibc.kill(pid, SIGKILL)
        _ = await waitExit(timeout: .seconds(5))
    }
}
