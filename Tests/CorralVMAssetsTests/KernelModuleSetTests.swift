import Testing

@testable import CorralVMAssets

@Suite struct KernelModuleSetTests {
    /// An excerpt of Debian 12's cloud kernel modules.dep (ext4 and jbd2 built in).
    let modulesDep = """
        kernel/arch/x86/crypto/crc32c-intel.ko:
        kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
        kernel/drivers/virtio/virtio_ring.ko:
        kernel/drivers/virtio/virtio_pci_modern_dev.ko:
        kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
        kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
        kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
        kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
        kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
        kernel/net/core/failover.ko:
        kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
        kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
        kernel/fs/xfs/xfs.ko: kernel/lib/libcrc32c.ko
        kernel/lib/libcrc32c.ko:

        """

    @Test func dependenciesComeBeforeDependentsAndNothingRepeats() {
        let set = KernelModuleSet(modulesDep: modulesDep)
        let names = set.paths.map(KernelModuleSet.moduleName)
        #expect(Set(names).count == names.count)
        #expect(
            Set(names) == [
                "virtio_ring", "virtio", "virtio_mmio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
                "virtio_blk", "failover", "net_failover", "virtio_net", "virtio_console",
            ])
        for (path, dependencies) in [
            ("virtio", ["virtio_ring"]), ("virtio_mmio", ["virtio", "virtio_ring"]),
            ("virtio_net", ["net_failover", "failover", "virtio"]), ("net_failover", ["failover"]),
            ("virtio_pci", ["virtio_pci_legacy_dev", "virtio_pci_modern_dev"]),
        ] {
            guard let position = names.firstIndex(of: path) else {
                Issue.record("\(path) missing")
                continue
            }
            for dependency in dependencies {
                #expect((names.firstIndex(of: dependency) ?? Int.max) < position, "\(dependency) before \(path)")
            }
        }
        // Built in (absent from modules.dep) or not wanted: no file.
        #expect(!names.contains("ext4"))
        #expect(!names.contains("xfs"))
    }

    @Test func modularExt4BringsItsDependencies() {
        let dep = """
            kernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.xz kernel/fs/mbcache.ko.xz kernel/lib/crc16.ko.xz
            kernel/fs/jbd2/jbd2.ko.xz:
            kernel/fs/mbcache.ko.xz:
            kernel/lib/crc16.ko.xz:
            """
        let set = KernelModuleSet(modulesDep: dep, wanted: ["ext4"])
        #expect(set.paths.last == "kernel/fs/ext4/ext4.ko.xz")
        #expect(Set(set.paths) == ["kernel/fs/ext4/ext4.ko.xz", "kernel/fs/jbd2/jbd2.ko.xz", "kernel/fs/mbcache.ko.xz", "kernel/lib/crc16.ko.xz"])
    }

    @Test func namesIgnoreCompressionAndDashes() {
        #expect(KernelModuleSet.moduleName("kernel/arch/x86/crypto/crc32c-intel.ko") == "crc32c_intel")
        #expect(KernelModuleSet.moduleName("kernel/net/core/failover.ko.zst") == "failover")
        #expect(KernelModuleSet(modulesDep: modulesDep, wanted: ["crc32c-intel"]).paths == ["kernel/arch/x86/crypto/crc32c-intel.ko"])
    }

    @Test func aDependencyCycleTerminates() {
        let set = KernelModuleSet(modulesDep: "a.ko: b.ko\nb.ko: a.ko\n", wanted: ["a"])
        #expect(Set(set.paths) == ["a.ko", "b.ko"])
    }
}
