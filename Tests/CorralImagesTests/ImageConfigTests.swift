@testable import CorralImages
import CorralCore
import Testing

@Suite struct ImageConfigTests {
    @Test func runtimePartOfADockerStyleConfig() throws {
        let json = """
            {"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z","author":"x",
             "config":{"User":"app:app","ExposedPorts":{"8080/tcp":{},"53/udp":{}},"Env":["PATH=/bin","A=b=c"],
                       "Entrypoint":["/entry.sh"],"Cmd":null,"WorkingDir":"/srv","Labels":{"a":"b"},
                       "Volumes":{"/data":{}},"StopSignal":"SIGTERM"},
             "rootfs":{"type":"layers","diff_ids":[]},"history":[{"created_by":"x","empty_layer":true}]}
            """
        let config = try StoreJSON.decode(OCIImageConfig.self, from: Array(json.utf8), action: "test")
        #expect(config.runtimeConfig == ImageRuntimeConfig(
            entrypoint: ["/entry.sh"], cmd: [], env: ["PATH=/bin", "A=b=c"], workingDir: "/srv", user: "app:app",
            exposedPorts: ["53/udp", "8080/tcp"], labels: ["a": "b"]
        ))
        let bare = try StoreJSON.decode(OCIImageConfig.self, from: Array(#"{"rootfs":{"type":"layers","diff_ids":[]}}"#.utf8), action: "test")
        #expect(bare.runtimeConfig == ImageRuntimeConfig())
        let empty = try StoreJSON.decode(
            OCIImageConfig.self, from: Array(#"{"config":{"WorkingDir":"","User":""}}"#.utf8), action: "test"
        )
        #expect(empty.runtimeConfig.workingDir == nil && empty.runtimeConfig.user == nil)
    }

    @Test(.enabled(if: ImageTools.archiveMissing == nil, "needs skopeo, umoci, gzip and busybox-static"))
    func configOfAStoredImage() async throws {
        let scratch = try ScratchDirectory()
        let store = try scratch.store()
        let layoutPath = "\(scratch.path)/layout"
        let layout = OCILayout(path: layoutPath)
        try layout.create()
        let layer = try layout.writeBlob(tarArchive([.init("srv", .directory)]), mediaType: OCIMediaType.layer)
        var runtime = OCIImageConfig.Runtime(env: ["PATH=/bin", "MODE=test"], cmd: ["--serve"])
        runtime.entrypoint = ["/bin/app"]
        runtime.workingDir = "/srv"
        runtime.user = "1000:1000"
        runtime.exposedPorts = ["80/tcp": EmptyObject()]
        runtime.labels = ["org.corral.vm.cmdline": "quiet"]
        let image = try layout.writeImage(
            layers: [layer], diffIDs: [try #require(ImageDigest(layer.digest))], runtime: runtime, createdBy: "test"
        )
        try layout.writeIndex(OCIIndex(manifests: [
            OCIDescriptor(
                mediaType: OCIMediaType.imageManifest, digest: image.digest.description,
                size: Int64(try layout.readBlob(image.digest, action: "test").count),
                annotations: [OCIAnnotation.referenceName: "app"]
            ),
        ]))
        let archive = "\(scratch.path)/app.tar"
        try await runTool(ImageTools.skopeo, ["copy", "oci:\(layoutPath):app", "oci-archive:\(archive)"])
        let stored = try await store.importArchive(path: archive, format: .ociArchive, reference: "corral/app:1", progress: { _ in })
        let expected = ImageRuntimeConfig(
            entrypoint: ["/bin/app"], cmd: ["--serve"], env: ["PATH=/bin", "MODE=test"], workingDir: "/srv",
            user: "1000:1000", exposedPorts: ["80/tcp"], labels: ["org.corral.vm.cmdline": "quiet"]
        )
        #expect(stored.config == expected)
        #expect(try await store.config(digest: stored.digest) == expected)
        #expect(try await store.resolve("corral/app:1", policy: .never).config == expected)
        let bad = await #expect(throws: CorralError.self) { try await store.config(digest: "sha256:nope") }
        #expect(bad?.code == .invalidArgument)
    }
}
