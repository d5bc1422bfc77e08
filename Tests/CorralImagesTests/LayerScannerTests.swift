@testable import CorralImages
import CorralCore
import Testing

@Suite struct LayerScannerTests {
    static func scan(_ layers: [[TarWriter.Entry]]) throws(ArchiveProblem) {
        var scanner = LayerScanner()
        for (index, layer) in layers.enumerated() {
            try scanner.scan(TarReader(source: TarReaderTests.BytesSource(tarArchive(layer))), layer: index)
        }
    }

    static func refusal(_ layers: [[TarWriter.Entry]]) -> ArchiveProblem? {
        do throws(ArchiveProblem) {
            try scan(layers)
            return nil
        } catch {
            return error
        }
    }

    @Test func relativeLinksInsideTheRootMayBeTraversed() throws {
        try Self.scan([
            [.init("usr/lib", .directory), .init("lib", .symlink("usr/lib")), .init("lib/x.so", .file([]))],
            [.init("lib/y.so", .file([])), .init("lib/sub", .directory), .init("lib/sub/z", .file([]))],
            [.init("etc/mtab", .symlink("/proc/mounts")), .init("./etc/ok", .file([]))],
        ])
    }

    @Test func aLinkReplacedByADirectoryNoLongerCounts() throws {
        try Self.scan([
            [.init("lib", .symlink("/etc"))],
            [.init(".wh.lib", .file([])), .init("lib", .directory), .init("lib/passwd", .file([]))],
        ])
        try Self.scan([[.init("lib", .symlink("/etc")), .init("lib", .directory), .init("lib/passwd", .file([]))]])
        try Self.scan([
            [.init("d", .directory), .init("d/l", .symlink("/etc"))],
            [.init("d/.wh..wh..opq", .file([])), .init("d/l", .directory), .init("d/l/x", .file([]))],
        ])
    }

    @Test func escapesThroughLowerLayersAndChainsAreRefused() {
        let lower = Self.refusal([[.init("lib", .symlink("/etc"))], [.init("lib/passwd", .file([]))]])
        #expect(lower?.entry == "lib/passwd")
        #expect(lower?.kind == .refused)

        let chain = Self.refusal([[.init("a", .symlink("b")), .init("b", .symlink("/etc")), .init("a/passwd", .file([]))]])
        #expect(chain?.entry == "a/passwd")

        let nested = Self.refusal([[.init("x/y", .symlink("../..")), .init("x/y/z", .file([]))]])
        #expect(nested?.reason.contains("leads outside the root filesystem") == true)

        let viaHardlink = Self.refusal([
            [.init("lib", .symlink("/etc")), .init("alias", .hardlink("lib")), .init("alias/passwd", .file([]))]
        ])
        #expect(viaHardlink?.entry == "alias/passwd")

        let hardlinkThroughLink = Self.refusal([[.init("lib", .symlink("/etc")), .init("p", .hardlink("lib/passwd"))]])
        #expect(hardlinkThroughLink?.reason.contains("hardlink target 'lib/passwd'") == true)

        let loop = Self.refusal([[.init("a", .symlink("b")), .init("b", .symlink("a")), .init("a/x", .file([]))]])
        #expect(loop?.reason.contains("too many levels") == true)

        let whiteoutThroughLink = Self.refusal([[.init("lib", .symlink("/etc"))], [.init("lib/.wh.passwd", .file([]))]])
        #expect(whiteoutThroughLink?.entry == "lib/.wh.passwd")

        #expect(Self.refusal([[.init("dev/sda", .blockDevice(major: 8, minor: 0))]])?.reason.contains("device") == true)
        #expect(Self.refusal([[.init(".//etc/x", .file([]))]])?.reason.contains("absolute") == true)
        #expect(Self.refusal([[.init("a/../../x", .file([]))]])?.reason.contains("'..'") == true)
    }
}
