@testable import CorralImages
import CorralCore
import Foundation
import Testing

/// Crafted layers that try to write outside the root filesystem or create devices.
/// Each is refused both as a rootfs tarball (at import) and as a layer of an OCI
/// image (at unpack), naming the entry, with nothing written anywhere.
@Suite struct MaliciousLayerTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        /// Which entry the error must name.
        var entry: String
        var reason: String
        var entries: @Sendable (_ outside: String) -> [TarWriter.Entry]
        /// Paths that must not exist afterwards (besides the store staying clean).
        var mustNotExist: @Sendable (_ outside: String) -> [String]

        var testDescription: String { name }
    }

    static let marker = "corral-escape-\(UUID().uuidString.lowercased())"

    static let cases: [Case] = [
        Case(
            name: "dot-dot path", entry: "../\(marker)", reason: "'..' component",
            entries: { _ in [.init("../\(marker)", .file(Array("x".utf8)))] },
            mustNotExist: { outside in ["/tmp/\(marker)", "\(outside)/../\(marker)"] }
        ),
        Case(
            name: "absolute path", entry: "/etc/\(marker)", reason: "is absolute",
            entries: { _ in [.init("/etc/\(marker)", .file(Array("x".utf8)))] },
            mustNotExist: { _ in ["/etc/\(marker)"] }
        ),
        Case(
            name: "symlink to /etc, then a file through it", entry: "lib/passwd", reason: "absolute link",
            entries: { _ in [.init("lib", .symlink("/etc")), .init("lib/passwd", .file(Array("owned\n".utf8)))] },
            mustNotExist: { _ in [] }
        ),
        Case(
            name: "symlink to a directory outside, then a file through it", entry: "lib/passwd", reason: "absolute link",
            entries: { outside in [.init("lib", .symlink(outside)), .init("lib/passwd", .file(Array("owned\n".utf8)))] },
            mustNotExist: { outside in ["\(outside)/passwd"] }
        ),
        Case(
            name: "relative symlink climbing out, then a file through it", entry: "up/\(marker)",
            reason: "leads outside the root filesystem",
            entries: { _ in [.init("up", .symlink("../../../../../../../../tmp")), .init("up/\(marker)", .file([]))] },
            mustNotExist: { _ in ["/tmp/\(marker)"] }
        ),
        Case(
            name: "hardlink to ../../etc/passwd", entry: "passwd", reason: "'..' component",
            entries: { _ in [.init("passwd", .hardlink("../../etc/passwd"))] },
            mustNotExist: { _ in [] }
        ),
        Case(
            name: "character device", entry: "dev/mem", reason: "device nodes are not allowed",
            entries: { _ in [.init("dev", .directory), .init("dev/mem", .characterDevice(major: 1, minor: 1))] },
            mustNotExist: { _ in [] }
        ),
    ]

    @Test(
        .enabled(if: ImageTools.archiveMissing == nil, "needs skopeo, umoci, gzip and busybox-static"),
        arguments: cases
    )
    func refusedEverywhereAndNothingWritten(_ malicious: Case) async throws {
        let scratch = try ScratchDirectory()
        let outside = "\(scratch.path)/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let passwdBefore = try Data(contentsOf: URL(fileURLWithPath: "/etc/passwd"))
        let store = try scratch.store()
        let layer = tarArchive([.init("ok", .file(Array("fine".utf8)))] + malicious.entries(outside))

        let tarball = "\(scratch.path)/rootfs.tar"
        try Data(layer).write(to: URL(fileURLWithPath: tarball))
        let atImport = await #expect(throws: CorralError.self) {
            try await store.importArchive(path: tarball, format: .rootfsTar, reference: "evil/rootfs:1", progress: { _ in })
        }
        #expect(atImport?.code == .invalidArgument)
        #expect(atImport?.message.hasPrefix("failed to import rootfs archive '\(tarball)': entry '\(malicious.entry)': ") == true)
        #expect(atImport?.message.contains(malicious.reason) == true, "\(atImport?.message ?? "")")
        #expect(try await store.list().isEmpty)

        let base = tarArchive([.init("etc", .directory), .init("etc/hostname", .file(Array("base\n".utf8)))])
        let image = try await importLayers([base, layer], into: store, name: "evil/image:1", scratch: scratch)
        let atUnpack = await #expect(throws: CorralError.self) { try await store.rootfs(digest: image.digest) }
        #expect(atUnpack?.code == .invalidArgument)
        // skopeo gzips uncompressed layers on the way into an archive: name the layer as stored.
        let manifest = try OCILayout(path: "\(scratch.path)/store/oci").readManifest(try #require(ImageDigest(image.digest)))
        let layerDigest = try #require(manifest.layers.last?.digest)
        #expect(
            atUnpack?.message.hasPrefix(
                "failed to unpack image \(image.digest): layer 2 of 2 (\(layerDigest)): entry '\(malicious.entry)': "
            ) == true,
            "\(atUnpack?.message ?? "")"
        )

        let root = "\(scratch.path)/store"
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/rootfs").isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(root)/tmp").isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        #expect(try Data(contentsOf: URL(fileURLWithPath: "/etc/passwd")) == passwdBefore)
        for path in malicious.mustNotExist(outside) + ["\(root)/\(Self.marker)", "\(scratch.path)/\(Self.marker)"] {
            #expect(lstatInfo(path) == nil, "\(path) exists")
        }
    }
}
