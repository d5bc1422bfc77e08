import CorralCore
import CorralHost
import CorralShimFormat
import CorralVMAssets
import Foundation
import Logging

/// The `vm` driver: each instance is one QEMU process (`-M microvm` by default)
/// supervised by its own `corral-shim` exactly like a `process` instance (same log,
/// exit record, cgroups, exit watching and adoption). The serial console is QEMU's
/// stdio, so the instance log holds the guest's boot messages and the workload's
/// output.
///
/// The guest boots the host's cloud kernel with an initramfs whose `/init` is
/// `corral-agent`; the root disk is a qcow2 overlay (the instance's writable disk,
/// kept until `destroy`) over an ext4 base made once per image digest. The driver
/// talks to the agent over a virtio-serial port and to QEMU over QMP, both unix
/// sockets in the instance directory that QEMU listens on, so a restarted daemon
/// simply connects again while the VM keeps running.
///
/// A VM's exit status is its workload's, as the agent reported it (recorded durably
/// in `workload-exit` before the agent is acknowledged); without that record it is
/// QEMU's own.
public final class VMDriver: InstanceDriver {
    public let name = "vm"
    public let capabilities: DriverCapabilities

    let configuration: VMDriverConfiguration
    let supervisor: ShimSupervisor
    let images: any ImageProvider
    let networking: (any VMNetworking)?
    let logger: Logger
    let channels: VMChannelTable
    /// Reads the QMP and agent sockets of every VM: one thread for all.
    let channelWatcher: Result<DescriptorWatcher, SystemCallError>
    let qemuPath: String?
    let qemuImgPath: String?
    let mkfsPath: String?
    let accelerators: AcceleratorSelection
    let assets: VMBootAssets
    let maxProcesses = 1024

    /// - Parameters:
    ///   - images: Gives each pinned image's read-only root file system and config.
    ///   - networking: Gives each VM a tap on a bridge; nil: VMs have loopback only.
    ///   - cgroupLayout: The host's cgroup hierarchies; detected when nil.
    ///   - events: Receives workload exits.
    public init(
        configuration: VMDriverConfiguration,
        images: any ImageProvider,
        networking: (any VMNetworking)? = nil,
        cgroupLayout: CgroupLayout? = nil,
        events: any DriverEventSink,
        logger: Logger
    ) {
        self.configuration = configuration
        self.images = images
        self.networking = networking
        self.logger = logger
        let channels = VMChannelTable()
        self.channels = channels
        qemuPath = configuration.qemuPath ?? ExecutableLookup.resolve("qemu-system-x86_64")
        qemuImgPath = configuration.qemuImgPath ?? ExecutableLookup.resolve("qemu-img")
        mkfsPath = configuration.mkfsPath ?? ExecutableLookup.resolve("mkfs.ext4")
        let assets = VMBootAssets(configuration: configuration, qemuImgPath: qemuImgPath, mkfsPath: mkfsPath)
        self.assets = assets
        do {
            channelWatcher = .success(try DescriptorWatcher(name: "corral-vm-channels"))
        } catch {
            channelWatcher = .failure(error)
        }
        supervisor = ShimSupervisor(
            driverName: "vm", stateDirectory: configuration.stateDirectory, shimPath: configuration.shimPath,
            cgroupParent: configuration.cgroupParent, layout: cgroupLayout ?? CgroupLayout.current(),
            events: VMExitSink(stateDirectory: configuration.stateDirectory, channels: channels, next: events),
            notify: ShimSupervisor.Notice.logger(logger, noun: "vm")
        )
        var capabilities: DriverCapabilities = [.images, .exec, .files, .freeze, .metrics, .memoryLimit, .cpuLimit]
        if networking != nil { capabilities.insert(.network) }
        self.capabilities = capabilities
        let probe = AcceleratorProbe(configuration: configuration, qemuPath: qemuPath, assets: assets, logger: logger)
        accelerators = AcceleratorSelection { await probe.decide() }
    }

    deinit {
        if case .success(let watcher) = channelWatcher { watcher.shutdown() }
    }

    /// Stops watching instances and closes every QMP and agent connection: no
    /// further exits are reported. Running VMs keep running and can be adopted by
    /// another driver. For daemon shutdown.
    public func shutdown() {
        supervisor.shutdown()
        channels.removeAll()
        if case .success(let watcher) = channelWatcher { watcher.shutdown() }
    }

    /// The accelerator VMs use, deciding it (for `auto`, booting the probe VM) on
    /// first use.
    public func accelerator() async -> AcceleratorDecision {
        await accelerators.decision()
    }

    func paths(_ uuid: UUID) -> VMPaths { VMPaths(supervisor.paths(uuid)) }

    func cgroup(_ uuid: UUID) -> InstanceCgroup { supervisor.cgroup(uuid) }

    func watcher(_ verb: String) throws(CorralError) -> DescriptorWatcher {
        switch channelWatcher {
        case .success(let watcher): return watcher
        case .failure(let error):
            throw CorralError(.unavailable, "failed to \(verb): the vm driver cannot watch its sockets", cause: error)
        }
    }

    func qemu(_ verb: String) throws(CorralError) -> String {
        guard let qemuPath else {
            throw .unavailable("failed to \(verb): qemu-system-x86_64 is not installed on this host (Debian package qemu-system-x86)")
        }
        return qemuPath
    }

    // MARK: Validation

    /// Requires an image pinned to a digest, at least `minimumMemoryMB` of memory,
    /// 1 to `maximumVCPUs` vcpus, and a kernel command line the kernel can parse.
    public func validate(_ spec: InstanceSpec) throws(CorralError) {
        _ = try PinnedImage.digest(spec.image, driver: name)
        guard spec.memoryMB >= configuration.minimumMemoryMB else {
            throw .invalidArgument(
                "invalid field 'memory_mb' \(spec.memoryMB): a VM needs at least \(configuration.minimumMemoryMB) MB for its kernel and agent"
            )
        }
        guard (1...configuration.maximumVCPUs).contains(spec.vcpus) else {
            throw .invalidArgument("invalid field 'vcpus' \(spec.vcpus): a VM has 1 to \(configuration.maximumVCPUs) vcpus")
        }
        _ = try KernelCommandLine().merging(spec.kernel?.cmdline ?? [:])
        for (field, path) in [("kernel.path", spec.kernel?.path), ("kernel.initrd", spec.kernel?.initrd)] {
            guard let path else { continue }
            guard path.hasPrefix("/") else {
                throw .invalidArgument("invalid field '\(field)' '\(path)': must be an absolute path on the host")
            }
            guard RawFile.exists(path) else {
                throw .invalidArgument("invalid field '\(field)' '\(path)': no such file on the daemon's host")
            }
        }
    }
}
