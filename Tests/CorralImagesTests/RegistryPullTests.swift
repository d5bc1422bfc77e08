@testable import CorralImages
import CorralCore
import Foundation
import Synchronization
import Testing

@Suite struct RegistryPullTests {
    @Test(.enabled(if: ImageTools.registryMissing == nil, "needs skopeo, umoci, docker-registry and busybox-static"))
    func pullByTagAndDigestFromALocalRegistry() async throws {
        let scratch = try ScratchDirectory()
        let registry = try await LocalRegistry(directory: "\(scratch.path)/registry")
        defer { registry.stop() }

        let source = try scratch.store("source")
        let busybox = try await source.buildBusyboxImage()
        let busyboxDigest = try #require(ImageDigest(busybox.digest))
        let name = "\(registry.host)/corral/busybox:1"
        try await runTool(
            ImageTools.skopeo,
            ["copy", "--dest-tls-verify=false", "oci:\(scratch.path)/source/oci:\(OCILayout.tag(for: busyboxDigest))", "docker://\(name)"]
        )

        let store = try scratch.store("pulled")
        let events = Mutex<[ImageProgress]>([])
        let pulled = try await store.pull(name, options: PullOptions(insecure: true), progress: { event in
            events.withLock { $0.append(event) }
        })
        #expect(pulled.references == [name])
        #expect(pulled.config.cmd == ["sh"])
        let progress = events.withLock { $0 }
        #expect(progress.contains { $0.message.hasPrefix("copying layer sha256:") })
        #expect(progress.last?.layersDone == 1 && progress.last?.layersTotal == 1)
        #expect(progress.last?.bytesDone == pulled.sizeBytes)

        // Pinning: the name resolves to what was pulled, without a registry round trip.
        let resolved = try await store.resolve(name, policy: .never)
        #expect(resolved.digest == pulled.digest)
        #expect(resolved.pinned == "\(registry.host)/corral/busybox:1@\(pulled.digest)")
        let rootfs = try await store.rootfs(digest: resolved.digest)
        #expect(symlinkTarget("\(rootfs)/bin/sh") == "busybox")

        // By digest, into a store that has never seen it.
        let byDigest = "\(registry.host)/corral/busybox@\(pulled.digest)"
        let other = try scratch.store("by-digest")
        let pinned = try await other.pull(byDigest, options: PullOptions(insecure: true), progress: { _ in })
        #expect(pinned.digest == pulled.digest)
        #expect(pinned.references == [byDigest])
        #expect(try await other.resolve(byDigest, policy: .never).digest == pulled.digest)

        // `if_not_present` pulls through `resolve` from a registry configured as insecure.
        let configured = try scratch.store("configured", insecure: [registry.host])
        #expect(try await configured.resolve(name, policy: .ifNotPresent).digest == pulled.digest)
        #expect(try await configured.resolve(name, policy: .always).digest == pulled.digest)
        #expect(try await configured.list().count == 1)

        // A plain-HTTP registry is not used unless asked for.
        let strict = try scratch.store("strict")
        let refused = await #expect(throws: CorralError.self) {
            try await strict.pull(name, options: PullOptions(), progress: { _ in })
        }
        #expect(refused?.code == .unavailable)
        #expect(refused?.message.contains("HTTP response to HTTPS client") == true)

        let missing = "\(registry.host)/corral/missing:1"
        let never = await #expect(throws: CorralError.self) { try await store.resolve(missing, policy: .never) }
        #expect(never?.code == .notFound)
        #expect(never?.message == "failed to resolve image '\(missing)': not present locally and pull policy is never")

        let unknown = await #expect(throws: CorralError.self) {
            try await store.pull(missing, options: PullOptions(insecure: true), progress: { _ in })
        }
        #expect(unknown?.code == .notFound)
        #expect(unknown?.message.hasPrefix("failed to pull image '\(missing)': ") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(scratch.path)/pulled/tmp").isEmpty)
    }

    /// `corral` / `corral-secret`, bcrypt cost 5.
    static let htpasswd = "corral:$2b$05$bxgOdQJhT4b/3Lx7HdtaDe.86KRXC0WbhZaZKdiOqtNogPSmeylMi\n"

    @Test(.enabled(if: ImageTools.registryMissing == nil, "needs skopeo, umoci, docker-registry and busybox-static"))
    func pullWithBasicAuth() async throws {
        let scratch = try ScratchDirectory()
        let registry = try await LocalRegistry(directory: "\(scratch.path)/registry", htpasswd: Self.htpasswd)
        defer { registry.stop() }
        let source = try scratch.store("source")
        let digest = try #require(ImageDigest(try await source.buildBusyboxImage().digest))
        let name = "\(registry.host)/private/busybox:1"
        try await runTool(
            ImageTools.skopeo,
            [
                "copy", "--dest-tls-verify=false", "--dest-creds", "corral:corral-secret",
                "oci:\(scratch.path)/source/oci:\(OCILayout.tag(for: digest))", "docker://\(name)",
            ]
        )

        let store = try scratch.store("pulled")
        let anonymous = await #expect(throws: CorralError.self) {
            try await store.pull(name, options: PullOptions(insecure: true), progress: { _ in })
        }
        #expect(anonymous?.code == .unauthorized)
        let wrong = await #expect(throws: CorralError.self) {
            try await store.pull(name, options: PullOptions(credentials: "corral:wrong", insecure: true), progress: { _ in })
        }
        #expect(wrong?.code == .unauthorized)

        let pulled = try await store.pull(
            name, options: PullOptions(credentials: "corral:corral-secret", insecure: true), progress: { _ in }
        )
        #expect(pulled.references == [name])
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(scratch.path)/pulled/tmp").isEmpty)
    }
}

@Suite struct CopyProgressTests {
    /// Between skopeo's lines the bytes of blobs still arriving are reported, as
    /// they grow, and only when they grow.
    @Test func bytesOfBlobsStillArrivingAreSampled() throws {
        let scratch = try ScratchDirectory()
        let work = "\(scratch.path)/work/layout"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let events = Mutex<[ImageProgress]>([])
        let tracker = CopyProgress(layout: OCILayout(path: "\(scratch.path)/oci"), workLayout: work) { event in
            events.withLock { $0.append(event) }
        }
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        tracker.line("Copying blob \(digest) ")
        let partial = "\(work)/\(CopyProgress.partialPrefix)123456"
        try Data(count: 1000).write(to: URL(fileURLWithPath: partial))
        tracker.sample()
        try Data(count: 3000).write(to: URL(fileURLWithPath: partial))
        tracker.sample()
        tracker.sample()
        try Data(count: 50).write(to: URL(fileURLWithPath: "\(work)/index.json"))
        tracker.sample()
        let seen = events.withLock { $0 }
        #expect(seen.map(\.bytesDone) == [0, 1000, 3000], "\(seen)")
        #expect(seen.last?.message == "copying layer \(digest.prefix(19))")
    }
}
