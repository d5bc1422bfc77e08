import CorralCore
import CorralHost
import Foundation
import Logging
import Testing

@testable import CorralDriverVM

/// One real boot of a kernel the image carries, named by its labels.
@Suite(.serialized)
struct VMImageKernelBootTests {
    /// Modules the guest needs from a Debian cloud kernel, found in `modules.dep`
    /// with their dependencies (each line lists them all).
    static let wanted: Set<String> = [
        "virtio_mmio", "virtio_pci", "virtio_blk", "virtio_net", "virtio_console", "virtio_rng", "ext4", "button", "evdev",
    ]

    /// Lays the host kernel into `rootfs` as a Debian image would: `/boot/vmlinuz-<version>`,
    /// `/vmlinuz` linking to it, the guest's modules under `/usr/lib/modules/<version>`
    /// and `/lib` linking to `usr/lib`.
    static func addKernel(_ kernel: String, version: String, modules: String, to rootfs: String) throws {
        let manager = FileManager.default
        try manager.createDirectory(atPath: "\(rootfs)/boot", withIntermediateDirectories: true)
        try manager.copyItem(atPath: kernel, toPath: "\(rootfs)/boot/vmlinuz-\(version)")
        try manager.createSymbolicLink(atPath: "\(rootfs)/vmlinuz", withDestinationPath: "boot/vmlinuz-\(version)")
        let target = "\(rootfs)/usr/lib/modules/\(version)"
        try manager.createDirectory(atPath: target, withIntermediateDirectories: true)
        try manager.createSymbolicLink(atPath: "\(rootfs)/lib", withDestinationPath: "usr/lib")
        let dep = try String(contentsOfFile: "\(modules)/modules.dep", encoding: .utf8)
        try dep.write(toFile: "\(target)/modules.dep", atomically: true, encoding: .utf8)
        for line in dep.split(separator: "\n") {
            let files = line.split(whereSeparator: { $0 == ":" || $0 == " " }).map(String.init)
            guard let first = files.first,
                  let name = first.split(separator: "/").last?.split(separator: ".").first.map({ $0.replacingOccurrences(of: "-", with: "_") }),
                  wanted.contains(name)
            else { continue }
            for file in files where !manager.fileExists(atPath: "\(target)/\(file)") {
                let parent = URL(fileURLWithPath: "\(target)/\(file)").deletingLastPathComponent().path
                try manager.createDirectory(atPath: parent, withIntermediateDirectories: true)
                try manager.copyItem(atPath: "\(modules)/\(file)", toPath: "\(target)/\(file)")
            }
        }
    }

    @Test func anImageKernelBootsWithTheImagesModulesAndCmdline() async throws {
        if VMTestHost.skip(VMTestHost.missingBoot) { return }
        guard let host = VMTestHost.kernel, let version = host.version, let modules = host.modulesDirectory else {
            print("skipped: the host kernel has no readable version or no /lib/modules directory to copy into the image")
            return
        }
        try await VMFixture.run { fixture in
            try Self.addKernel(host.path, version: version, modules: modules, to: fixture.images.rootfsPath)
            var config = fixture.images.config
            config.labels = [
                "org.corral.vm.kernel": "/vmlinuz",
                "org.corral.vm.cmdline": "corral.test=imagekernel corral.layer=image",
            ]
            let images = BusyboxImages(rootfsPath: fixture.images.rootfsPath, config: config)
            var logger = Logger(label: "corral.test.vm")
            logger.logLevel = .debug
            let driver = VMDriver(configuration: fixture.configuration, images: images, events: fixture.sink, logger: logger)
            defer { driver.shutdown() }

            var spec = fixture.spec(args: ["sh", "-c", "while true; do sleep 1; done"])
            spec.kernel = KernelSpec(cmdline: ["corral.layer": "instance"])
            let uuid = UUID()
            let started = try await driver.start(StartRequest(uuid: uuid, name: "vm-imagekernel", spec: spec))
            print("image kernel boot to ready: \(Double(started.bootTimeMicroseconds) / 1000) ms (\(started.handle.attributes["accelerator"] ?? "?"))")
            #expect(started.handle.attributes["kernel"] == "\(fixture.images.rootfsPath)/boot/vmlinuz-\(version)")
            let cmdline = try await driver.exec(uuid, handle: started.handle, request: ExecRequest(command: ["cat", "/proc/cmdline"]))
            let text = String(decoding: cmdline.stdout, as: UTF8.self)
            print("guest /proc/cmdline: \(text)")
            #expect(text.contains("corral.test=imagekernel"), "the image's cmdline label reaches the guest")
            #expect(text.contains("corral.layer=instance") && !text.contains("corral.layer=image"), "the instance's cmdline wins")
            #expect(text.contains("console=ttyS0"), "the driver's defaults stay")
            let loaded = try await driver.exec(uuid, handle: started.handle, request: ExecRequest(command: ["cat", "/proc/modules"]))
            #expect(String(decoding: loaded.stdout, as: UTF8.self).contains("virtio_blk"), "the image's virtio_blk module is loaded")
            let archives = (try? FileManager.default.contentsOfDirectory(atPath: "\(fixture.configuration.cacheDirectory)/initramfs")) ?? []
            #expect(archives.contains { $0.hasPrefix("initramfs-v1-\(version)-image-") }, "an initramfs of the image's modules: \(archives)")

            try await driver.terminate(uuid, handle: started.handle)
            _ = await fixture.sink.waitForExit(uuid, timeout: .seconds(30))
            try await driver.destroy(uuid)
            #expect(!FileManager.default.fileExists(atPath: fixture.instanceDirectory(uuid)))
        }
    }
}
