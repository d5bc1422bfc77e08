import CorralCore
import CorralVMAssets
import Foundation
import Testing

@testable import CorralDriverVM

@Suite struct ImageBootLabelsTests {
    @Test func labelsAreParsed() throws {
        let labels = try ImageBootLabels(labels: [
            "org.corral.vm.kernel": "/boot/vmlinuz", "org.corral.vm.initrd": "/boot/initrd.img",
            "org.corral.vm.cmdline": " a=b c\tquiet a=d  x=y=z ", "org.opencontainers.image.title": "ignored",
        ])
        #expect(labels.kernel == "/boot/vmlinuz")
        #expect(labels.initrd == "/boot/initrd.img")
        #expect(labels.cmdline.keys == ["a", "c", "quiet", "x"])
        #expect(labels.cmdline.rendered == "a=d c quiet x=y=z")
        #expect(try ImageBootLabels(labels: [:]) == ImageBootLabels())
    }

    @Test(arguments: [
        ("org.corral.vm.kernel", "boot/vmlinuz"),
        ("org.corral.vm.kernel", "/"),
        ("org.corral.vm.initrd", "/boot/../../etc/shadow"),
        ("org.corral.vm.cmdline", "a=\"b c\""),
        ("org.corral.vm.cmdline", "=b"),
        ("org.corral.vm.cmdline", "a=b\\c"),
    ])
    func badLabelsAreRefusedByName(label: String, value: String) {
        do {
            _ = try ImageBootLabels(labels: [label: value])
            Issue.record("\(label)=\(value) was accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.hasPrefix("failed to start instance: image label \(label)"), "\(error.message)")
        }
    }

    @Test func instanceBeatsImageBeatsDaemon() {
        #expect(BootFileSource.chosen(instance: "/host/k", image: "/boot/k") == .instance("/host/k"))
        #expect(BootFileSource.chosen(instance: nil, image: "/boot/k") == .image("/boot/k"))
        #expect(BootFileSource.chosen(instance: nil, image: nil) == .daemon)
        #expect(BootFileSource.initrd(instanceKernel: "/host/k", instance: nil, image: "/boot/i") == .daemon,
                "the image's initrd is not laid under an instance's own kernel")
        #expect(BootFileSource.initrd(instanceKernel: nil, instance: nil, image: "/boot/i") == .image("/boot/i"))
        #expect(BootFileSource.initrd(instanceKernel: "/host/k", instance: "/host/i", image: "/boot/i") == .instance("/host/i"))
    }

    @Test func cmdlineLayers() throws {
        let defaults = KernelCommandLine([("console", "ttyS0"), ("panic", "-1"), ("reboot", "t")])
        let image = try ImageBootLabels.parameters("panic=5 quiet corral.test=image")
        let line = try defaults.laying(image).merging(["corral.test": "instance", "a": "1"])
        #expect(line.rendered == "console=ttyS0 panic=5 reboot=t quiet corral.test=instance a=1")
    }

    /// Resolution against a table of symlinks (inner path → target).
    static func resolve(_ path: String, _ links: [String: String]) throws(CorralError) -> String {
        try ImageRootPath.resolve(path, label: "org.corral.vm.kernel") { links[$0] }
    }

    @Test func symlinksResolveInsideTheImage() throws {
        let links = [
            "/vmlinuz": "boot/vmlinuz-6.1", "/lib": "usr/lib", "/boot/current": "/boot/vmlinuz-6.1",
            "/usr/lib/modules/6.1/build": "../../../../../src", "/usr/lib/modules/6.1/source": "../../../../src", "/boot/up": "../../../etc/shadow",
            "/loop": "/loop", "/boot/dot": "./vmlinuz-6.1",
        ]
        #expect(try Self.resolve("/vmlinuz", links) == "/boot/vmlinuz-6.1")
        #expect(try Self.resolve("/boot/current", links) == "/boot/vmlinuz-6.1")
        #expect(try Self.resolve("/boot/dot", links) == "/boot/vmlinuz-6.1")
        #expect(try Self.resolve("/lib/modules/6.1", links) == "/usr/lib/modules/6.1")
        #expect(try Self.resolve("//boot/./vmlinuz-6.1", links) == "/boot/vmlinuz-6.1")
        #expect(try Self.resolve("/lib/modules/6.1/source/x", links) == "/src/x", "a link may climb to the root, not past it")
        for escaping in ["/boot/up", "/lib/modules/6.1/build", "/loop"] {
            #expect(throws: CorralError.self, "\(escaping)") { try Self.resolve(escaping, links) }
        }
    }

    @Test func filesAreFoundOnlyInsideTheRootfs() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("corral-imageroot-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let manager = FileManager.default
        try manager.createDirectory(atPath: "\(root)/rootfs/boot", withIntermediateDirectories: true)
        try manager.createDirectory(atPath: "\(root)/rootfs/usr/lib/modules/6.1", withIntermediateDirectories: true)
        try "kernel".write(toFile: "\(root)/rootfs/boot/vmlinuz-6.1", atomically: true, encoding: .utf8)
        try "host secret".write(toFile: "\(root)/secret", atomically: true, encoding: .utf8)
        try manager.createSymbolicLink(atPath: "\(root)/rootfs/vmlinuz", withDestinationPath: "/boot/vmlinuz-6.1")
        try manager.createSymbolicLink(atPath: "\(root)/rootfs/lib", withDestinationPath: "usr/lib")
        try manager.createSymbolicLink(atPath: "\(root)/rootfs/out", withDestinationPath: "../secret")
        try manager.createSymbolicLink(atPath: "\(root)/rootfs/absolute", withDestinationPath: "\(root)/secret")
        let rootfs = "\(root)/rootfs"
        let label = ImageBootLabels.kernelLabel

        #expect(try ImageRootPath.file("/vmlinuz", label: label, rootfs: rootfs) == "\(rootfs)/boot/vmlinuz-6.1")
        #expect(ImageRootPath.directory("/lib/modules/6.1", rootfs: rootfs) == "\(rootfs)/usr/lib/modules/6.1")
        #expect(ImageRootPath.directory("/lib/modules/6.2", rootfs: rootfs) == nil)
        for (inner, reason) in [("/out", "leads out of the image"), ("/absolute", "not in the image"),
                                ("/boot", "not a regular file"), ("/boot/none", "not in the image")] {
            do {
                let path = try ImageRootPath.file(inner, label: label, rootfs: rootfs)
                Issue.record("\(inner) resolved to \(path)")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains(label) && error.message.contains(reason), "\(error.message)")
            }
        }
    }

    @Test func aFailedBootOfAnImageKernelWithoutModulesSaysSo() {
        let bare = VMKernel(path: "/r/boot/k", version: "6.1", modulesDirectory: nil, imageRoot: "/r")
        let hint = VMDriver.bootHint(.image("/boot/k"), kernel: bare)
        #expect(hint?.contains("no /lib/modules/6.1") == true, "\(hint ?? "nil")")
        var withModules = bare
        withModules.modulesDirectory = "/r/lib/modules/6.1"
        #expect(VMDriver.bootHint(.image("/boot/k"), kernel: withModules) == nil)
        #expect(VMDriver.bootHint(.daemon, kernel: bare) == nil)
    }
}
