@testable import CorralImages
import CorralCore
import Foundation
import Testing

@Suite struct ImageLifecycleTests {
    @Test(.enabled(if: ImageTools.archiveMissing == nil, "needs skopeo, umoci, gzip and busybox-static"))
    func listRemoveAndPruneKeepSharedBlobs() async throws {
        let scratch = try ScratchDirectory()
        let store = try scratch.store()
        let root = "\(scratch.path)/store"
        let layout = OCILayout(path: "\(root)/oci")
        let shared = tarArchive([.init("shared", .file(Array("both".utf8)))])
        let extra = tarArchive([.init("extra", .file(Array("only b".utf8)))])

        let a = try await importLayers([shared], into: store, name: "test/a:1", scratch: scratch)
        let b = try await importLayers([shared, extra], into: store, name: "test/b:1", scratch: scratch)
        let busybox = try await store.buildBusyboxImage()
        let aDigest = try #require(ImageDigest(a.digest))
        let bDigest = try #require(ImageDigest(b.digest))
        let aConfig = try #require(ImageDigest(try layout.readManifest(aDigest).config.digest))
        let bLayers = try layout.readManifest(bDigest).layers.compactMap { ImageDigest($0.digest) }
        #expect(try layout.readManifest(aDigest).layers.map(\.digest) == [bLayers[0].description])
        let sharedDigest = bLayers[0]
        let extraDigest = bLayers[1]

        let listed = try await store.list()
        #expect(Set(listed.map(\.digest)) == [a.digest, b.digest, busybox.digest])
        #expect(listed.first { $0.digest == b.digest }?.references == ["test/b:1"])
        #expect(listed.allSatisfy { $0.sizeBytes > 0 && $0.createdAt > 0 })
        _ = try await store.rootfs(digest: a.digest)
        let bRootfs = try await store.rootfs(digest: b.digest)

        // A second name for b: removing one of two names removes only the name.
        let again = try await importLayers([shared, extra], into: store, name: "test/b:2", scratch: scratch)
        #expect(again.digest == b.digest)
        #expect(try await store.list().first { $0.digest == b.digest }?.references == ["test/b:1", "test/b:2"])
        #expect(try await store.remove("test/b:2", inUse: [b.digest]) == [])
        let inUse = await #expect(throws: CorralError.self) { try await store.remove("test/b:1", inUse: [b.digest]) }
        #expect(inUse?.code == .conflict)
        await #expect(throws: CorralError.self) { try await store.remove(b.digest, inUse: [b.digest]) }
        let unknown = await #expect(throws: CorralError.self) { try await store.remove("test/nope:1", inUse: []) }
        #expect(unknown?.code == .notFound)

        #expect(try await store.remove("test/a:1", inUse: [b.digest]) == [a.digest])
        #expect(!layout.hasBlob(aDigest))
        #expect(!layout.hasBlob(aConfig))
        #expect(layout.hasBlob(sharedDigest))
        #expect(layout.hasBlob(extraDigest))
        #expect(lstatInfo("\(root)/rootfs/\(aDigest.hex)") == nil)
        #expect(lstatInfo(bRootfs) != nil)
        #expect(Set(try await store.list().map(\.digest)) == [b.digest, busybox.digest])
        let configError = await #expect(throws: CorralError.self) { try await store.config(digest: a.digest) }
        #expect(configError?.code == .notFound)
        #expect(try layout.readIndex().manifests.map(\.digest).sorted() == [b.digest, busybox.digest].sorted())

        #expect(try await store.prune(inUse: [b.digest]) == [busybox.digest])
        #expect(try await store.list().map(\.digest) == [b.digest])
        #expect(try String(contentsOfFile: "\(bRootfs)/shared", encoding: .utf8) == "both")

        #expect(try await store.prune(inUse: []) == [b.digest])
        #expect(try await store.list().isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/oci/blobs/sha256").isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/rootfs").isEmpty)
        #expect(try layout.readIndex().manifests.isEmpty)
        let gone = await #expect(throws: CorralError.self) { try await store.rootfs(digest: b.digest) }
        #expect(gone?.code == .notFound)
    }

    @Test func corruptCatalogIsSetAsideAndRebuiltFromTheLayout() async throws {
        let scratch = try ScratchDirectory()
        let root = "\(scratch.path)/store"
        let store = try scratch.store()
        let layer = tarArchive([.init("a", .file([]))])
        let digest = try writeImageLayout("\(root)/oci", layers: [layer], tag: "elsewhere")
        _ = store
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: "\(root)/images.json"))

        let reopened = try scratch.store()
        let images = try await reopened.list()
        #expect(images.map(\.digest) == [digest.description])
        #expect(images.first?.references == [])
        let names = try FileManager.default.contentsOfDirectory(atPath: root)
        #expect(names.contains { $0.hasPrefix("images.json.corrupt-") })
    }

    @Test func theCatalogOfAnOlderCorralIsImportedWithItsNames() async throws {
        let scratch = try ScratchDirectory()
        let root = "\(scratch.path)/legacy"
        let layer = tarArchive([.init("a", .file([]))])
        let digest = try writeImageLayout("\(root)/oci", layers: [layer], tag: "elsewhere")
        let json = """
            {"version": 1, "images": [{"digest": "\(digest)", "references": ["docker.io/library/old:1"],
             "createdAt": 1700000000, "sizeBytes": 123}]}
            """
        try Data(json.utf8).write(to: URL(fileURLWithPath: "\(root)/images.json"))

        let store = try scratch.store("legacy")
        let images = try await store.list()
        #expect(images.map(\.digest) == [digest.description])
        #expect(images.first?.references == ["docker.io/library/old:1"])
        #expect(!FileManager.default.fileExists(atPath: "\(root)/images.json"))
        #expect(FileManager.default.fileExists(atPath: "\(root)/images.json.imported"))
        #expect(try await scratch.store("legacy").list() == images, "a reopened store reads the index, not the file")
    }
}
