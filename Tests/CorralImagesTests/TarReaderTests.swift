@testable import CorralImages
import CorralCore
import Foundation
import Testing

@Suite struct TarReaderTests {
    final class BytesSource: ByteSource {
        let bytes: [UInt8]
        var offset = 0
        let step: Int

        init(_ bytes: [UInt8], step: Int = 1000) {
            self.bytes = bytes
            self.step = step
        }

        func read(into buffer: UnsafeMutableRawBufferPointer) throws(ArchiveProblem) -> Int {
            let count = min(buffer.count, bytes.count - offset, step)
            for index in 0..<count { buffer[index] = bytes[offset + index] }
            offset += count
            return count
        }

        func finish(complete: Bool) throws(ArchiveProblem) {}
    }

    static func entries(_ bytes: [UInt8]) throws -> [TarEntry] {
        let reader = TarReader(source: BytesSource(bytes), bufferSize: 1024)
        var entries: [TarEntry] = []
        while let entry = try reader.next() { entries.append(entry) }
        return entries
    }

    @Test func readsWhatTheWriterWrites() throws {
        let long = String(repeating: "deep/", count: 40) + "file"
        let target = String(repeating: "t", count: 150)
        let bytes = tarArchive([
            .init("dir", .directory, mode: 0o700),
            .init("dir/file", .file(Array(repeating: 7, count: 1500)), mode: 0o640),
            .init(long, .file(Array("long".utf8))),
            .init("link", .symlink(target)),
            .init("hard", .hardlink("dir/file")),
            .init("dev/null", .characterDevice(major: 1, minor: 3)),
            .init("fifo", .fifo),
        ])
        let entries = try Self.entries(bytes)
        #expect(entries.map(\.displayPath) == ["dir", "dir/file", long, "link", "hard", "dev/null", "fifo"])
        #expect(entries.map(\.kind) == [.directory, .regular, .regular, .symlink, .hardlink, .characterDevice, .fifo])
        #expect(entries[0].mode == 0o700)
        #expect(entries[1].size == 1500)
        #expect(entries[3].displayLinkTarget == target)
        #expect(entries[4].displayLinkTarget == "dir/file")

        let reader = TarReader(source: BytesSource(bytes), bufferSize: 1024)
        _ = try reader.next()
        _ = try reader.next()
        #expect(try reader.readContent(limit: 4096) == Array(repeating: 7, count: 1500))
        #expect(try reader.next()?.displayPath == long)
    }

    @Test(.enabled(if: ImageTools.tar != nil, "needs GNU tar"), arguments: ["gnu", "posix", "ustar", "v7"])
    func readsGNUTarFormats(_ format: String) async throws {
        let scratch = try ScratchDirectory()
        let tree = "\(scratch.path)/tree"
        let name = format == "v7" ? "short" : String(repeating: "n", count: 90) + "/" + String(repeating: "m", count: 60)
        try FileManager.default.createDirectory(atPath: "\(tree)/\((name as NSString).deletingLastPathComponent)", withIntermediateDirectories: true)
        try Data("content".utf8).write(to: URL(fileURLWithPath: "\(tree)/\(name)"))
        try FileManager.default.createSymbolicLink(atPath: "\(tree)/sym", withDestinationPath: "target")
        let archive = "\(scratch.path)/out.tar"
        try await runTool(ImageTools.tar, ["--format=\(format)", "-C", tree, "-cf", archive, "."])
        let entries = try Self.entries(try [UInt8](Data(contentsOf: URL(fileURLWithPath: archive))))
        #expect(entries.contains { $0.displayPath == "./\(name)" && $0.kind == .regular && $0.size == 7 })
        #expect(entries.contains { $0.displayPath == "./sym" && $0.kind == .symlink && $0.displayLinkTarget == "target" })
    }

    @Test func refusesCorruptHeaders() throws {
        var bytes = tarArchive([.init("a", .file(Array("x".utf8)))])
        bytes[10] ^= 0xff
        let error = #expect(throws: ArchiveProblem.self) { try Self.entries(bytes) }
        #expect(error?.kind == .malformed)
        let truncated = Array(tarArchive([.init("a", .file(Array(repeating: 1, count: 4000)))]).prefix(1500))
        #expect(throws: ArchiveProblem.self) { try Self.entries(truncated) }
    }
}
