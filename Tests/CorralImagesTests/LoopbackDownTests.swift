@testable import CorralImages
import CorralCore
import CorralHost
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The image store runs its tools without any socket: in a network namespace
/// whose loopback is down (where corrald may run), Foundation's `Process` could
/// not even start a child ("Could not create wakeup socket pair for CFSocket").
///
/// The outer test makes such a namespace and runs this test binary inside it
/// with `nsenter`, filtered to `operationsInside`, which does the work.
@Suite struct LoopbackDownTests {
    static let innerVariable = "CORRAL_TEST_LOOPBACK_DOWN_INNER"
    static let isInner = ProcessInfo.processInfo.environment[innerVariable] == "1"
    static let ip = ExecutableLookup.resolve("ip")
    static let nsenter = ExecutableLookup.resolve("nsenter")

    static var outerMissing: String? {
        if isInner { return "runs only outside the namespace" }
        return ImageTools.missing([
            ("root", ImageTools.isRoot), ("ip", ip != nil), ("nsenter", nsenter != nil),
            ("skopeo", ImageTools.skopeo != nil), ("umoci", ImageTools.umoci != nil),
            ("/bin/busybox (busybox-static)", ImageTools.haveBusybox), ("gzip", ImageTools.gzip != nil),
        ])
    }

    @Test(.enabled(if: outerMissing == nil, "needs root, ip, nsenter, skopeo, umoci, gzip and busybox-static"))
    func imageOperationsCompleteWithLoopbackDown() async throws {
        let ip = try #require(Self.ip)
        let nsenter = try #require(Self.nsenter)
        let watcher = try DescriptorWatcher(name: "loopback-down-test")
        defer { watcher.shutdown() }
        let name = "corraltest-\(UInt32.random(in: 0...UInt32.max))"
        let add = try await HostCommand(executable: ip, arguments: ["netns", "add", name])
            .run(watcher: watcher, deadline: HostProcess.monotonicNanoseconds() + 10_000_000_000)
        try #require(add.exitCode == 0, "ip netns add: \(add.errorText)")
        let result = await Result(catching: { () async throws -> Void in try await Self.runInside(name, ip: ip, nsenter: nsenter, watcher: watcher) })
        let delete = try await HostCommand(executable: ip, arguments: ["netns", "del", name])
            .run(watcher: watcher, deadline: HostProcess.monotonicNanoseconds() + 10_000_000_000)
        #expect(delete.exitCode == 0, "ip netns del: \(delete.errorText)")
        try result.get()
    }

    private static func runInside(_ name: String, ip: String, nsenter: String, watcher: DescriptorWatcher) async throws {
        let links = try await HostCommand(executable: ip, arguments: ["-n", name, "-o", "link", "show", "lo"])
            .run(watcher: watcher, deadline: HostProcess.monotonicNanoseconds() + 10_000_000_000)
        #expect(String(decoding: links.stdout, as: UTF8.self).contains("state DOWN"))

        let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let started = ContinuousClock.now
        let inner = try await HostCommand(
            executable: nsenter,
            arguments: [
                "--net=/run/netns/\(name)", "--", binary, "--testing-library", "swift-testing",
                "--filter", "LoopbackDownTests/operationsInside",
            ],
            environment: ["PATH=\(ExecutableLookup.defaultSearchPath)", "\(innerVariable)=1"]
        ).run(watcher: watcher, deadline: HostProcess.monotonicNanoseconds() + 180_000_000_000)
        // The inner run's own --filter output names the test and its verdict.
        let output = String(decoding: inner.stdout + inner.stderr, as: UTF8.self)
        #expect(!inner.timedOut, "the image operations hung with loopback down:\n\(output)")
        #expect(inner.exitCode == 0, "\(output)")
        #expect(output.contains("Test operationsInside() passed"), "\(output)")
        print("image operations with loopback down took \(ContinuousClock.now - started)")
    }

    /// The work, run only inside the namespace: build busybox, unpack it (umoci),
    /// export it with skopeo, import that archive (skopeo, gzip) and unpack it.
    @Test(.enabled(if: isInner))
    func operationsInside() async throws {
        let scratch = try ScratchDirectory()
        let source = try scratch.store("source")
        let busybox = try await source.buildBusyboxImage()
        #expect(symlinkTarget("\(try await source.rootfs(digest: busybox.digest))/bin/sh") == "busybox")
        let tag = OCILayout.tag(for: try #require(ImageDigest(busybox.digest)))
        let archive = "\(scratch.path)/busybox-oci.tar"
        try await runTool(ImageTools.skopeo, ["copy", "oci:\(scratch.path)/source/oci:\(tag)", "oci-archive:\(archive)"])
        let store = try scratch.store()
        let imported = try await store.importArchive(path: archive, format: .ociArchive, reference: "corral/bb:1", progress: { _ in })
        #expect(symlinkTarget("\(try await store.rootfs(digest: imported.digest))/bin/sh") == "busybox")
    }
}

extension Result where Failure == any Error {
    /// The outcome of an async throwing body.
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
