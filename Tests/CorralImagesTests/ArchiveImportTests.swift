@testable import CorralImages
import CorralCore
import Foundation
import Testing

@Suite struct ArchiveImportTests {
    @Test(.enabled(if: ImageTools.archiveMissing == nil, "needs skopeo, umoci, gzip and busybox-static"))
    func ociAndDockerArchivesFromTheStoresOwnLayout() async throws {
        let scratch = try ScratchDirectory()
        let source = try scratch.store("source")
        let busybox = try await source.buildBusyboxImage()
        let tag = OCILayout.tag(for: try #require(ImageDigest(busybox.digest)))
        let ociArchive = "\(scratch.path)/busybox-oci.tar"
        let dockerArchive = "\(scratch.path)/busybox-docker.tar"
        try await runTool(ImageTools.skopeo, ["copy", "oci:\(scratch.path)/source/oci:\(tag)", "oci-archive:\(ociArchive)"])
        try await runTool(
            ImageTools.skopeo, ["copy", "oci:\(scratch.path)/source/oci:\(tag)", "docker-archive:\(dockerArchive):corral/bb:2"]
        )

        let store = try scratch.store()
        let fromOCI = try await store.importArchive(
            path: ociArchive, format: .ociArchive, reference: "corral/bb-oci:1", progress: { _ in }
        )
        // skopeo gzips the uncompressed busybox layer on the way into the archive.
        let layers = try OCILayout(path: "\(scratch.path)/store/oci").readManifest(try #require(ImageDigest(fromOCI.digest))).layers
        #expect(layers.map(\.mediaType) == [OCIMediaType.layerGzip])
        #expect(fromOCI.references == ["corral/bb-oci:1"])
        #expect(symlinkTarget("\(try await store.rootfs(digest: fromOCI.digest))/bin/sh") == "busybox")

        let fromDocker = try await store.importArchive(path: dockerArchive, format: .dockerArchive, reference: nil, progress: { _ in })
        #expect(fromDocker.references == ["corral/bb:2"])
        #expect(fromDocker.config.cmd == ["sh"])
        #expect(fromDocker.config.env == ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
        let dockerRootfs = try await store.rootfs(digest: fromDocker.digest)
        #expect(symlinkTarget("\(dockerRootfs)/bin/sh") == "busybox")
        #expect(FileManager.default.isExecutableFile(atPath: "\(dockerRootfs)/bin/busybox"))
        #expect(try await store.resolve("corral/bb:2", policy: .never).digest == fromDocker.digest)
        #expect(Set(try await store.list().map(\.digest)) == [fromOCI.digest, fromDocker.digest])

        let missing = await #expect(throws: CorralError.self) {
            try await store.importArchive(path: "\(scratch.path)/nope.tar", format: .ociArchive, reference: nil, progress: { _ in })
        }
        #expect(missing?.code == .notFound)
        let notAnArchive = "\(scratch.path)/garbage.tar"
        try Data("not a tar".utf8).write(to: URL(fileURLWithPath: notAnArchive))
        await #expect(throws: CorralError.self) {
            try await store.importArchive(path: notAnArchive, format: .dockerArchive, reference: "x:1", progress: { _ in })
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(scratch.path)/store/tmp").isEmpty)
    }

    @Test(.enabled(if: ImageTools.archiveMissing == nil, "needs skopeo, umoci, gzip and busybox-static"))
    func rootfsTarballsBecomeOneLayerImages() async throws {
        let scratch = try ScratchDirectory()
        let store = try scratch.store()
        let plain = "\(scratch.path)/rootfs.tar"
        let rootfsTar = tarArchive([
            .init("etc", .directory),
            .init("etc/hostname", .file(Array("corral\n".utf8))),
            .init("bin", .directory),
            .init("bin/tool", .file(Array("#!/bin/sh\n".utf8)), mode: 0o755, uid: 1000, gid: 1000),
        ])
        try Data(rootfsTar).write(to: URL(fileURLWithPath: plain))
        try await runTool(ImageTools.gzip, ["-k", "-n", plain])

        let noName = await #expect(throws: CorralError.self) {
            try await store.importArchive(path: plain, format: .rootfsTar, reference: nil, progress: { _ in })
        }
        #expect(noName?.code == .invalidArgument)

        let image = try await store.importArchive(path: plain, format: .rootfsTar, reference: "corral/plain", progress: { _ in })
        #expect(image.references == ["corral/plain:latest"])
        let zipped = try await store.importArchive(
            path: "\(plain).gz", format: .rootfsTar, reference: "corral/zipped:1", progress: { _ in }
        )
        #expect(zipped.digest != image.digest)
        let manifest = try OCILayout(path: "\(scratch.path)/store/oci").readManifest(try #require(ImageDigest(zipped.digest)))
        #expect(manifest.layers.map(\.mediaType) == [OCIMediaType.layerGzip])
        let config = try OCILayout(path: "\(scratch.path)/store/oci").readConfig(of: manifest)
        #expect(config.rootfs?.diffIDs == [ImageDigest.of(rootfsTar).description])

        for digest in [image.digest, zipped.digest] {
            let rootfs = try await store.rootfs(digest: digest)
            #expect(try String(contentsOfFile: "\(rootfs)/etc/hostname", encoding: .utf8) == "corral\n")
            let tool = try #require(lstatInfo("\(rootfs)/bin/tool"))
            #expect(tool.st_mode & 0o7777 == 0o755)
            #expect(tool.st_uid == 1000 && tool.st_gid == 1000)
        }
    }
}
