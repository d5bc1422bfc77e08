@testable import CorralImages
import CorralCore
import Foundation
import Testing

@Suite struct BusyboxImageTests {
    @Test(.enabled(if: ImageTools.unpackMissing == nil, "needs umoci, gzip and /bin/busybox (busybox-static)"))
    func buildIsDeterministicAndRuns() async throws {
        let scratch = try ScratchDirectory()
        let first = try scratch.store("one")
        let second = try scratch.store("two")

        let clock = ContinuousClock()
        let started = clock.now
        let built = try await first.buildBusyboxImage()
        let buildTime = clock.now - started
        let again = try await second.buildBusyboxImage()
        #expect(built.digest == again.digest)
        #expect(built.references == [ImageStore.busyboxReference])
        #expect(built.config.cmd == ["sh"])
        #expect(built.config.env == ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
        #expect(try await first.buildBusyboxImage().digest == built.digest)

        let unpackStarted = clock.now
        let rootfs = try await first.rootfs(digest: built.digest)
        let unpackTime = clock.now - unpackStarted
        print("busybox image: build \(buildTime), unpack (scan + umoci + sync) \(unpackTime), \(built.sizeBytes) bytes")
        #expect(rootfs == "\(scratch.path)/one/rootfs/\(try #require(ImageDigest(built.digest)).hex)")
        #expect(symlinkTarget("\(rootfs)/bin/sh") == "busybox")
        #expect(symlinkTarget("\(rootfs)/usr/bin/awk") == "../../bin/busybox")
        #expect(FileManager.default.isExecutableFile(atPath: "\(rootfs)/bin/busybox"))
        let passwd = try String(contentsOfFile: "\(rootfs)/etc/passwd", encoding: .utf8)
        #expect(passwd.hasPrefix("root:x:0:0:"))
        for directory in ["proc", "sys", "dev", "tmp"] {
            #expect(lstatInfo("\(rootfs)/\(directory)").map { $0.st_mode & S_IFMT } == S_IFDIR, "\(directory)")
        }
        #expect(lstatInfo("\(rootfs)/tmp").map { $0.st_mode & 0o7777 } == 0o1777)
        #expect(try await first.rootfs(digest: built.digest) == rootfs)

        if ImageTools.isRoot, let chroot = ImageTools.chroot {
            let output = try await runTool(chroot, [rootfs, "/bin/sh", "-c", "echo hello from $(id -un)"])
            #expect(output.stdout == "hello from root\n")
        }
    }

    @Test(.enabled(if: ImageTools.unpackMissing == nil, "needs umoci, gzip and /bin/busybox (busybox-static)"))
    func resolvingBusyboxBuildsItUnlessPolicyIsAlways() async throws {
        let scratch = try ScratchDirectory()
        let store = try scratch.store()
        let resolved = try await store.resolve("busybox", policy: .never)
        #expect(resolved.reference == "busybox:latest")
        #expect(resolved.config.cmd == ["sh"])
        #expect(try await store.resolve("busybox:latest", policy: .ifNotPresent).digest == resolved.digest)
        #expect(try await store.resolve(resolved.digest, policy: .never).digest == resolved.digest)
        #expect(try await store.resolve("busybox@\(resolved.digest)", policy: .never).digest == resolved.digest)
        #expect(resolved.pinned == "busybox:latest@\(resolved.digest)")

        // `always` pulls busybox like any other name instead of building it; without
        // skopeo that fails before any network is touched.
        let offline = try scratch.store(configuration: .init(root: "\(scratch.path)/offline", skopeoPath: nil))
        let error = await #expect(throws: CorralError.self) { try await offline.resolve("busybox", policy: .always) }
        #expect(error?.code == .unavailable)
        #expect(error?.message == "failed to pull image 'busybox:latest': skopeo is not installed")
        #expect(try await offline.list().isEmpty)
    }

    @Test(.enabled(if: ImageTools.unpackMissing == nil, "needs umoci, gzip and /bin/busybox (busybox-static)"))
    func concurrentUnpacksOfOneDigestUnpackOnce() async throws {
        let scratch = try ScratchDirectory()
        let logs = LogCollector()
        let store = try scratch.store(logger: logs.logger)
        let digest = try await store.buildBusyboxImage().digest
        let paths = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<6 { group.addTask { try await store.rootfs(digest: digest) } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(paths.count == 1)
        #expect(logs.count("image unpacked") == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(scratch.path)/store/tmp").isEmpty)
    }

    @Test func dynamicBinariesAreRecognised() throws {
        let bash = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "/bin/sh")))
        #expect(BusyboxRootfs.isDynamicallyLinked(bash))
        if ImageTools.haveBusybox {
            #expect(!BusyboxRootfs.isDynamicallyLinked(try [UInt8](Data(contentsOf: URL(fileURLWithPath: ImageTools.busybox)))))
        }
    }
}
