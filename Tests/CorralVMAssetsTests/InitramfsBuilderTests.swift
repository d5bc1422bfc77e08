import CorralCore
import Foundation
import Testing

@testable import CorralVMAssets

@Suite struct InitramfsBuilderTests {
    /// A fake kernel whose modules directory holds a tiny modules.dep and module files.
    func fakeKernel(in root: String) throws -> VMKernel {
        let modules = root + "/modules"
        for directory in ["kernel/drivers/virtio", "kernel/drivers/block"] {
            try FileManager.default.createDirectory(atPath: "\(modules)/\(directory)", withIntermediateDirectories: true)
        }
        let dep = """
            kernel/drivers/virtio/virtio_ring.ko:
            kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
            kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
            kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko

            """
        try dep.write(toFile: modules + "/modules.dep", atomically: true, encoding: .utf8)
        for module in ["virtio/virtio_ring", "virtio/virtio", "virtio/virtio_mmio", "block/virtio_blk"] {
            try "module \(module)".write(toFile: "\(modules)/kernel/drivers/\(module).ko", atomically: true, encoding: .utf8)
        }
        return VMKernel(path: "/nonexistent/vmlinuz", version: "9.9.9-test", modulesDirectory: modules)
    }

    @Test func theArchiveHoldsInitConsoleAndModulesInLoadOrder() throws {
        guard let cpio = which("cpio") else {
            print("skipped: cpio is not installed")
            return
        }
        let scratch = try ScratchDirectory()
        let agent = scratch.path + "/agent"
        try "#!agent".write(toFile: agent, atomically: true, encoding: .utf8)
        let builder = InitramfsBuilder(agentPath: agent, cacheDirectory: scratch.path + "/cache")
        let kernel = try fakeKernel(in: scratch.path)
        let path = try builder.initramfs(for: kernel)
        #expect(path.hasPrefix(scratch.path + "/cache/initramfs-v1-9.9.9-test-"))

        let archive = try Data(contentsOf: URL(fileURLWithPath: path))
        let listing = try runTool(cpio, ["-itv", "--quiet"], stdin: archive).stdout
        #expect(listing.contains { _ in true })
        #expect(listing.split(separator: "\n").contains { $0.hasPrefix("crw-------") && $0.hasSuffix("dev/console") })
        #expect(listing.split(separator: "\n").contains { $0.hasPrefix("-rwxr-xr-x") && $0.hasSuffix(" init") })

        let out = try ScratchDirectory()
        let extract = try runTool("/bin/sh", ["-c", "cd \(out.path) && \(cpio) -idm --quiet"], stdin: archive)
        #expect(extract.status == 0)
        #expect(try String(contentsOfFile: out.path + "/init", encoding: .utf8) == "#!agent")
        let list = try String(contentsOfFile: out.path + "/etc/corral/modules", encoding: .utf8)
        #expect(
            list == "/lib/modules/virtio_ring.ko\n/lib/modules/virtio.ko\n/lib/modules/virtio_mmio.ko\n/lib/modules/virtio_blk.ko\n")
        #expect(try String(contentsOfFile: out.path + "/lib/modules/virtio_blk.ko", encoding: .utf8) == "module block/virtio_blk")
        for directory in ["proc", "sys", "newroot"] {
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: "\(out.path)/\(directory)", isDirectory: &isDirectory) && isDirectory.boolValue)
        }
    }

    @Test func theArchiveIsBuiltOncePerAgentContent() throws {
        let scratch = try ScratchDirectory()
        let agent = scratch.path + "/agent"
        try "one".write(toFile: agent, atomically: true, encoding: .utf8)
        let builder = InitramfsBuilder(agentPath: agent, cacheDirectory: scratch.path + "/cache")
        let kernel = VMKernel(path: "/x", version: "1.0", modulesDirectory: nil)
        let first = try builder.initramfs(for: kernel)
        let inode = try FileManager.default.attributesOfItem(atPath: first)[.systemFileNumber] as? Int
        #expect(try builder.initramfs(for: kernel) == first)
        #expect(try FileManager.default.attributesOfItem(atPath: first)[.systemFileNumber] as? Int == inode)
        try "two".write(toFile: agent, atomically: true, encoding: .utf8)
        let second = try builder.initramfs(for: kernel)
        #expect(second != first)
        // No temporary files are left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/cache").filter { !$0.hasPrefix(".") }
        #expect(names.count == 2)
    }

    @Test func concurrentCallersGetOneArchive() async throws {
        let scratch = try ScratchDirectory()
        let agent = scratch.path + "/agent"
        try Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: agent))
        let builder = InitramfsBuilder(agentPath: agent, cacheDirectory: scratch.path + "/cache")
        let kernel = VMKernel(path: "/x", version: "1.0", modulesDirectory: nil)
        let paths = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<4 { group.addTask { try builder.initramfs(for: kernel) } }
            var collected: [String] = []
            for try await path in group { collected.append(path) }
            return collected
        }
        #expect(Set(paths).count == 1)
        let names = try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/cache").filter { !$0.hasPrefix(".") }
        #expect(names.count == 1)
    }

    @Test func combinedPutsTheUserInitrdFirstAndPadsIt() throws {
        let scratch = try ScratchDirectory()
        let agent = scratch.path + "/agent"
        try "agent".write(toFile: agent, atomically: true, encoding: .utf8)
        let user = scratch.path + "/user.img"
        try Data([1, 2, 3, 4, 5]).write(to: URL(fileURLWithPath: user))
        let builder = InitramfsBuilder(agentPath: agent, cacheDirectory: scratch.path + "/cache")
        let kernel = VMKernel(path: "/x", version: "1.0", modulesDirectory: nil)
        try builder.combined(userInitrd: user, kernel: kernel, at: scratch.path + "/combined.img")
        let combined = try Data(contentsOf: URL(fileURLWithPath: scratch.path + "/combined.img"))
        let ours = try Data(contentsOf: URL(fileURLWithPath: try builder.initramfs(for: kernel)))
        #expect(Array(combined.prefix(8)) == [1, 2, 3, 4, 5, 0, 0, 0])
        #expect(combined.dropFirst(8) == ours)
        #expect(throws: CorralError.self) {
            try builder.combined(userInitrd: scratch.path + "/missing", kernel: kernel, at: scratch.path + "/c2.img")
        }
    }

    @Test func theHostKernelGetsItsVirtioModules() throws {
        guard let kernel = try? VMKernel.hostDefault(), kernel.modulesDirectory != nil else {
            print("skipped: no host kernel with a modules directory")
            return
        }
        let names = try InitramfsBuilder.modules(for: kernel).map { KernelModuleSet.moduleName($0.path) }
        let depText = try String(contentsOfFile: (kernel.modulesDirectory ?? "") + "/modules.dep", encoding: .utf8)
        for module in ["virtio_mmio", "virtio_blk", "virtio_console", "virtio_net"] where depText.contains("/\(module).ko") {
            #expect(names.contains(module), "\(module) in \(names)")
        }
    }
}
