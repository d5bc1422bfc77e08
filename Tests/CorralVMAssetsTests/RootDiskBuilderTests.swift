import CorralCore
import Foundation
import Testing

@testable import CorralVMAssets

@Suite struct RootDiskBuilderTests {
    let digest = "sha256:" + String(repeating: "ab", count: 32)

    @Test func theBaseImageHoldsTheRootfsWithOwnersAndModes() async throws {
        guard which("mkfs.ext4") != nil, let debugfs = which("debugfs") else {
            print("skipped: e2fsprogs (mkfs.ext4, debugfs) is not installed")
            return
        }
        let scratch = try ScratchDirectory()
        guard try makeBusyboxRootfs(at: scratch.path + "/rootfs") else {
            print("skipped: busybox is not installed")
            return
        }
        let builder = RootDiskBuilder(cacheDirectory: scratch.path + "/disks")
        let started = ContinuousClock.now
        let base = try await builder.baseImage(rootfs: scratch.path + "/rootfs", digest: digest)
        print("base image of the busybox rootfs built in \(ContinuousClock.now - started)")
        #expect(base == scratch.path + "/disks/sha256-\(String(repeating: "ab", count: 32)).ext4")

        let root = try runTool(debugfs, ["-R", "ls -l /", base])
        #expect(root.status == 0)
        for name in ["bin", "etc", "srv", "tmp"] { #expect(root.stdout.contains(" \(name)"), "\(name) in \(root.stdout)") }
        let marker = try runTool(debugfs, ["-R", "stat /srv/marker", base]).stdout
        #expect(marker.contains("User:  1234"))
        #expect(marker.contains("Group:  5678"))
        #expect(marker.contains("Mode:  0640"))
        let link = try runTool(debugfs, ["-R", "stat /bin/sh", base]).stdout
        #expect(link.contains("Type: symlink"))
        #expect(link.contains("Fast link dest: \"busybox\""))
        let dump = try ScratchDirectory()
        #expect(try runTool(debugfs, ["-R", "dump /etc/passwd \(dump.path)/passwd", base]).status == 0)
        #expect(try String(contentsOfFile: dump.path + "/passwd", encoding: .utf8).hasPrefix("root:x:0:0:"))

        let attributes = try FileManager.default.attributesOfItem(atPath: base)
        #expect((attributes[.posixPermissions] as? Int) == 0o444)
        let minimum: Int = 256 << 20
        #expect((attributes[.size] as? Int ?? 0) >= minimum)
        // Sparse: far fewer blocks allocated than the size.
        var info = stat()
        #expect(stat(base, &info) == 0)
        let allocated = Int(info.st_blocks) * 512
        #expect(allocated < minimum / 4)

        // Built once: a second call returns the same file untouched.
        #expect(try await builder.baseImage(rootfs: scratch.path + "/rootfs", digest: digest) == base)
        var again = stat()
        #expect(stat(base, &again) == 0 && again.st_ino == info.st_ino)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/disks").filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)

        try await builder.removeBase(digest: digest)
        #expect(!FileManager.default.fileExists(atPath: base))
        try await builder.removeBase(digest: digest)
    }

    @Test func concurrentBuildersOfOneDigestBuildOnce() async throws {
        guard which("mkfs.ext4") != nil else {
            print("skipped: mkfs.ext4 is not installed")
            return
        }
        let scratch = try ScratchDirectory()
        guard try makeBusyboxRootfs(at: scratch.path + "/rootfs") else {
            print("skipped: busybox is not installed")
            return
        }
        let builder = RootDiskBuilder(cacheDirectory: scratch.path + "/disks")
        let rootfs = scratch.path + "/rootfs"
        let digest = self.digest
        let paths = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<3 { group.addTask { try await builder.baseImage(rootfs: rootfs, digest: digest) } }
            var collected: [String] = []
            for try await path in group { collected.append(path) }
            return collected
        }
        #expect(Set(paths).count == 1)
        let files = try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/disks").filter { !$0.hasSuffix(".lock") }
        #expect(files.count == 1, "\(files)")
    }

    @Test func overlaysAreQcow2OverTheRawBase() throws {
        guard let qemuImg = which("qemu-img") else {
            print("skipped: qemu-img is not installed")
            return
        }
        let scratch = try ScratchDirectory()
        let base = scratch.path + "/base.raw"
        #expect(FileManager.default.createFile(atPath: base, contents: Data()))
        let baseSize: Int = 1_300 << 20
        #expect(truncate(base, off_t(baseSize)) == 0)  // 1.3 GiB: three L1 entries
        let builder = RootDiskBuilder(cacheDirectory: scratch.path + "/disks")
        let overlay = scratch.path + "/vm/overlay.qcow2"
        try FileManager.default.createDirectory(atPath: scratch.path + "/vm", withIntermediateDirectories: true)
        try builder.createOverlay(base: base, at: overlay)

        let info = try runTool(qemuImg, ["info", "--output=json", overlay])
        #expect(info.status == 0, "\(info.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any])
        #expect(json["format"] as? String == "qcow2")
        #expect(json["virtual-size"] as? Int == baseSize)
        #expect(json["backing-filename"] as? String == base)
        #expect(json["backing-filename-format"] as? String == "raw")
        let check = try runTool(qemuImg, ["check", overlay])
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)")

        // Writes land in the overlay, reads of the rest come from the base.
        #expect(try runTool(qemuImg, ["map", "--output=json", overlay]).status == 0)
        #expect(try runTool("/bin/sh", ["-c", "printf corral | dd of=\(base) conv=notrunc status=none"]).status == 0)
        let io = try runTool(which("qemu-io") ?? "/usr/bin/qemu-io", ["-c", "write -P 0x5a 1M 64k", "-c", "read -P 0x5a 1M 64k", overlay])
        #expect(io.status == 0 && !io.stdout.contains("fail"), "\(io.stdout) \(io.stderr)")
        #expect(try runTool(qemuImg, ["check", overlay]).status == 0)
        let head = try runTool("/bin/sh", ["-c", "\(qemuImg) dd if=\(overlay) of=/dev/stdout bs=6 count=1 status=none 2>/dev/null || true"])
        #expect(head.stdout.hasPrefix("corral") || head.stdout.isEmpty)

        // Idempotent for the same base; a conflict for another.
        try builder.createOverlay(base: base, at: overlay)
        #expect(throws: CorralError.self) { try builder.createOverlay(base: scratch.path + "/other.raw", at: overlay) }
        #expect(throws: CorralError.self) { try builder.createOverlay(base: scratch.path + "/missing.raw", at: scratch.path + "/vm/o2.qcow2") }
    }

    @Test func digestsThatCouldNameOtherPathsAreRefused() {
        let builder = RootDiskBuilder(cacheDirectory: "/tmp/nowhere")
        for bad in ["sha256:../../etc", "sha256", "SHA256:ABCDEF0123456789", "sha256:abc/def0123456789", ":0123456789abcdef"] {
            #expect(throws: CorralError.self) { try builder.basePath(digest: bad) }
        }
    }

    @Test func sizesLeaveRoom() {
        let mebibyte: UInt64 = 1 << 20
        let small = RootfsSize(bytes: 10 * mebibyte, entries: 100)
        let smallBytes = small.imageBytes(minimum: 256 * mebibyte)
        #expect(smallBytes == 260 * mebibyte)
        let large = RootfsSize(bytes: 1024 * mebibyte, entries: 100_000)
        #expect(large.inodes == 200_000)
        let largeBytes = large.imageBytes(minimum: 256 * mebibyte)
        let needed: UInt64 = 2048 * mebibyte + 200_000 * 256
        #expect(largeBytes >= needed)
    }
}
