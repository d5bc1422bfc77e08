@testable import CorralImages
import CorralCore
import Foundation
import Testing

@Suite struct UnpackTests {
    @Test(.enabled(if: ImageTools.archiveMissing == nil, "needs skopeo, umoci, gzip and busybox-static"))
    func whiteoutsModesOwnershipAndLinksComeOutRight() async throws {
        let scratch = try ScratchDirectory()
        let store = try scratch.store()
        let lower = tarArchive([
            .init("bin", .directory),
            .init("bin/tool", .file(Array("v1".utf8)), mode: 0o644, uid: 1000, gid: 1000),
            .init("data", .directory),
            .init("data/old", .file(Array("old".utf8))),
            .init("etc", .directory),
            .init("etc/alias", .symlink("keep")),
            .init("etc/gone", .file(Array("gone".utf8))),
            .init("etc/keep", .file(Array("keep".utf8)), mode: 0o640),
            .init("etc/keep-link", .hardlink("etc/keep")),
            .init("opt", .directory, mode: 0o755),
            .init("usr", .directory),
            .init("usr/lib", .directory),
            .init("lib", .symlink("usr/lib")),
        ])
        let upper = tarArchive([
            .init("bin/tool", .file(Array("v2".utf8)), mode: 0o4755, uid: 1000, gid: 1000),
            .init("data", .directory),
            .init("data/.wh..wh..opq", .file([])),
            .init("data/new", .file(Array("new".utf8))),
            .init("etc/.wh.gone", .file([])),
            .init("etc/owned", .file(Array("owned".utf8)), mode: 0o600, uid: 1234, gid: 5678),
            .init("opt", .directory, mode: 0o750, uid: 0, gid: 1234),
            .init("lib/libx.so", .file(Array("elf".utf8))),
        ])
        let image = try await importLayers([lower, upper], into: store, name: "test/layers:1", scratch: scratch)
        let rootfs = try await store.rootfs(digest: image.digest)

        #expect(lstatInfo("\(rootfs)/etc/gone") == nil)
        #expect(lstatInfo("\(rootfs)/data/old") == nil)
        #expect(try String(contentsOfFile: "\(rootfs)/data/new", encoding: .utf8) == "new")

        let tool = try #require(lstatInfo("\(rootfs)/bin/tool"))
        #expect(tool.st_mode & 0o7777 == 0o4755)
        #expect(tool.st_uid == 1000 && tool.st_gid == 1000)
        #expect(try String(contentsOfFile: "\(rootfs)/bin/tool", encoding: .utf8) == "v2")

        let keep = try #require(lstatInfo("\(rootfs)/etc/keep"))
        let link = try #require(lstatInfo("\(rootfs)/etc/keep-link"))
        #expect(keep.st_ino == link.st_ino)
        #expect(keep.st_nlink == 2)
        #expect(keep.st_mode & 0o7777 == 0o640)
        #expect(symlinkTarget("\(rootfs)/etc/alias") == "keep")

        let owned = try #require(lstatInfo("\(rootfs)/etc/owned"))
        #expect(owned.st_uid == 1234 && owned.st_gid == 5678)
        #expect(owned.st_mode & 0o7777 == 0o600)
        let opt = try #require(lstatInfo("\(rootfs)/opt"))
        #expect(opt.st_mode & 0o7777 == 0o750 && opt.st_gid == 1234)

        #expect(symlinkTarget("\(rootfs)/lib") == "usr/lib")
        #expect(try String(contentsOfFile: "\(rootfs)/usr/lib/libx.so", encoding: .utf8) == "elf")
    }
}
