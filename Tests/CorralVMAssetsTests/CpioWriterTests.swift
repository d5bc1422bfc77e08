import Foundation
import Testing

@testable import CorralVMAssets

@Suite struct CpioWriterTests {
    @Test func headerFieldsArePaddedHex() {
        var writer = CpioWriter()
        writer.append("a", .file([1, 2, 3]), permissions: 0o644)
        let bytes = writer.finish()
        let header = String(decoding: bytes[0..<110], as: UTF8.self)
        // magic, ino 1, mode 0100644, uid, gid, nlink 1, mtime 0, filesize 3.
        let expected = ["070701", "00000001", "000081A4", "00000000", "00000000", "00000001", "00000000", "00000003"].joined()
        #expect(header.hasPrefix(expected))
        // name "a\0" padded so the data starts on a 4-byte boundary: 110 + 2 → 112.
        #expect(Array(bytes[110..<112]) == [0x61, 0])
        #expect(Array(bytes[112..<115]) == [1, 2, 3])
        #expect(bytes.count % 4 == 0)
        #expect(String(decoding: bytes, as: UTF8.self).contains("TRAILER!!!"))
    }

    @Test func cpioListsAndExtractsWhatWasWritten() throws {
        guard let cpio = which("cpio") else {
            print("skipped: cpio is not installed")
            return
        }
        var writer = CpioWriter()
        writer.append("dev", .directory, permissions: 0o755)
        writer.append("dev/console", .characterDevice(major: 5, minor: 1), permissions: 0o600)
        writer.append("etc", .directory, permissions: 0o755)
        writer.append("etc/odd-size", .file(Array("12345".utf8)), permissions: 0o640)
        writer.append("etc/link", .symlink("odd-size"), permissions: 0o777)
        writer.append("init", .file((0..<70_001).map { UInt8(truncatingIfNeeded: $0) }), permissions: 0o755)
        let archive = writer.finish()

        let listing = try runTool(cpio, ["-itv", "--quiet"], stdin: Data(archive))
        #expect(listing.status == 0)
        let lines = listing.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 6)
        #expect(lines.contains { $0.hasPrefix("crw-------") && $0.contains("5,") && $0.hasSuffix("dev/console") })
        #expect(lines.contains { $0.hasPrefix("-rwxr-xr-x") && $0.contains("70001") && $0.hasSuffix(" init") })
        #expect(lines.contains { $0.hasPrefix("lrwxrwxrwx") && $0.hasSuffix("etc/link -> odd-size") })

        let scratch = try ScratchDirectory()
        let extract = try runTool("/bin/sh", ["-c", "cd \(scratch.path) && \(cpio) -idm --quiet --no-absolute-filenames"], stdin: Data(archive))
        #expect(extract.status == 0, "\(extract.stderr)")
        #expect(try String(contentsOfFile: scratch.path + "/etc/odd-size", encoding: .utf8) == "12345")
        let initBytes = try Data(contentsOf: URL(fileURLWithPath: scratch.path + "/init"))
        #expect(Array(initBytes) == (0..<70_001).map { UInt8(truncatingIfNeeded: $0) })
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: scratch.path + "/etc/link") == "odd-size")
    }

    @Test func equalInputGivesEqualBytes() {
        func build() -> [UInt8] {
            var writer = CpioWriter()
            writer.append("x", .file([9]), permissions: 0o600)
            return writer.finish()
        }
        #expect(build() == build())
    }
}
