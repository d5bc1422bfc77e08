import CorralCore
import Testing

@testable import CorralDriverVM

struct QEMUCommandLineTests {
    private func command(_ machine: VMMachine, _ accelerator: VMAccelerator, network: Bool = true) -> QEMUCommandLine {
        QEMUCommandLine(
            executable: "/usr/bin/qemu-system-x86_64", machine: machine, accelerator: accelerator, memoryMB: 256, vcpus: 2,
            kernel: "/boot/vmlinuz", initrd: "/cache/initramfs.cpio", kernelCommandLine: "console=ttyS0 panic=-1",
            rootDisk: "/state/instances/x/disk.qcow2", agentSocket: "/state/instances/x/agent.sock",
            qmpSocket: "/state/instances/x/qmp.sock",
            network: network ? .init(tap: "vt0123abcd", mac: "52:54:00:12:34:56") : nil
        )
    }

    /// The value following `flag` each time it occurs.
    private func values(_ args: [String], _ flag: String) -> [String] {
        args.indices.filter { args[$0] == flag && $0 + 1 < args.count }.map { args[$0 + 1] }
    }

    @Test func microvmUnderTCGUsesVirtioMMIODevicesAndTheSerialConsole() {
        let args = command(.microvm, .tcg).arguments
        #expect(args.first == "/usr/bin/qemu-system-x86_64")
        #expect(values(args, "-M") == ["microvm"])
        #expect(values(args, "-accel") == ["tcg"])
        #expect(values(args, "-cpu") == ["max"])
        for flag in ["-nodefaults", "-no-user-config", "-no-reboot"] { #expect(args.contains(flag)) }
        #expect(values(args, "-display") == ["none"])
        #expect(values(args, "-m") == ["256M"] && values(args, "-smp") == ["2"])
        #expect(values(args, "-serial") == ["chardev:con"])
        #expect(values(args, "-kernel") == ["/boot/vmlinuz"] && values(args, "-initrd") == ["/cache/initramfs.cpio"])
        #expect(values(args, "-append") == ["console=ttyS0 panic=-1"])
        let devices = values(args, "-device")
        #expect(devices.contains("virtio-blk-device,drive=root"))
        #expect(devices.contains("virtio-serial-device,id=vser"))
        #expect(devices.contains("virtserialport,bus=vser.0,chardev=agent,name=corral.agent"))
        #expect(devices.contains("virtio-net-device,netdev=net0,mac=52:54:00:12:34:56"))
        let chardevs = values(args, "-chardev")
        #expect(chardevs.contains("stdio,id=con,signal=off"))
        #expect(chardevs.contains("socket,id=agent,path=/state/instances/x/agent.sock,server=on,wait=off"))
        #expect(chardevs.contains("socket,id=qmp,path=/state/instances/x/qmp.sock,server=on,wait=off"))
        #expect(values(args, "-mon") == ["chardev=qmp,mode=control"])
        #expect(values(args, "-netdev") == ["tap,id=net0,ifname=vt0123abcd,script=no,downscript=no,vhost=off"])
        #expect(values(args, "-drive").first?.hasPrefix("id=root,file=/state/instances/x/disk.qcow2,format=qcow2,if=none") == true)
    }

    @Test func volumesFollowTheRootDiskWithSerialsTheGuestFindsThemBy() {
        var command = command(.microvm, .tcg)
        command.volumes = [.init(path: "/state/x/volume-0.ext4", readOnly: false), .init(path: "/state/x/volume-1.ext4", readOnly: true)]
        let args = command.arguments
        let drives = values(args, "-drive")
        #expect(drives.count == 3 && drives[0].hasPrefix("id=root,"))
        #expect(drives[1] == "id=vol0,file=/state/x/volume-0.ext4,format=raw,if=none,cache=writeback")
        #expect(drives[2] == "id=vol1,file=/state/x/volume-1.ext4,format=raw,if=none,cache=writeback,readonly=on")
        let devices = values(args, "-device")
        #expect(devices.contains("virtio-blk-device,drive=vol0,serial=corral-vol0"))
        #expect(devices.contains("virtio-blk-device,drive=vol1,serial=corral-vol1"))
    }

    @Test func q35UnderKVMUsesPCIDevicesAndTheHostCPU() {
        let args = command(.q35, .kvm, network: false).arguments
        #expect(values(args, "-M") == ["q35"])
        #expect(values(args, "-accel") == ["kvm"] && values(args, "-cpu") == ["host"])
        let devices = values(args, "-device")
        #expect(devices.contains("virtio-blk-pci,drive=root"))
        #expect(devices.contains("virtio-serial-pci,id=vser"))
        #expect(!args.contains("-netdev"), "no NIC without a network")
    }

    @Test func theProbeVMHasNoDisksSocketsOrNIC() {
        let args = QEMUCommandLine(
            executable: "qemu", machine: .microvm, accelerator: .kvm, memoryMB: 128, vcpus: 1, kernel: "k", initrd: "i",
            kernelCommandLine: "corral.probe=1"
        ).arguments
        #expect(!args.contains("-drive") && !args.contains("-netdev") && !args.contains("-mon"))
        #expect(values(args, "-chardev") == ["stdio,id=con,signal=off"])
    }

    @Test func commasInPathsAreDoubledForQEMU() {
        var command = command(.microvm, .tcg)
        command.rootDisk = "/state/a,b/disk.qcow2"
        #expect(values(command.arguments, "-drive").first?.contains("file=/state/a,,b/disk.qcow2,") == true)
    }

    @Test func theKernelCommandLineMergesTheUserMapOverTheDefaults() throws {
        let defaults = KernelCommandLine.defaults(machine: .microvm, accelerator: .tcg, hostTSCKilohertz: 2_600_000)
        #expect(defaults.rendered == "console=ttyS0 panic=-1 reboot=t tsc_early_khz=2600000")
        #expect(KernelCommandLine.defaults(machine: .microvm, accelerator: .kvm, hostTSCKilohertz: 2_600_000).rendered
            == "console=ttyS0 panic=-1 reboot=t", "only TCG on microvm needs the TSC frequency")
        #expect(KernelCommandLine.defaults(machine: .q35, accelerator: .tcg, hostTSCKilohertz: 2_600_000).rendered
            == "console=ttyS0 panic=-1 reboot=t")

        let merged = try defaults.merging(["console": "hvc0", "quiet": "", "loglevel": "3"])
        #expect(merged.rendered == "console=hvc0 panic=-1 reboot=t tsc_early_khz=2600000 loglevel=3 quiet",
                "user values replace defaults in place; new keys follow, sorted; an empty value is a bare key")
    }

    @Test func invalidCommandLineKeysAndValuesAreRejectedByName() {
        for (key, value, named) in [
            ("bad key", "1", "'bad key'"), ("a=b", "1", "'a=b'"), ("", "1", "empty"),
            ("init", "/bin/sh -c", "'init'"), ("x", "\"quoted\"", "'x'"), ("tab\t", "", "'tab\t'"),
        ] {
            do {
                _ = try KernelCommandLine().merging([key: value])
                Issue.record("\(key)=\(value) was accepted")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains(named), "\(error.message)")
                #expect(error.message.contains("kernel.cmdline"))
            }
        }
    }

    @Test func theHostTSCFrequencyIsReadFromCPUInfo() {
        if let khz = KernelCommandLine.hostTSCKilohertz() {
            #expect(khz > 100_000 && khz < 10_000_000)
        } else {
            print("skipped: /proc/cpuinfo gives no cpu MHz here")
        }
    }
}
