import CorralHost

/// How the `vm` driver runs its VMs.
public struct VMDriverConfiguration: Sendable {
    /// Instances live in `<stateDirectory>/instances/<uuid>/`; boot assets are
    /// cached in `<stateDirectory>/vm/`.
    public var stateDirectory: String
    /// The `corral-shim` executable.
    public var shimPath: String
    /// The static `corral-agent` executable put into every initramfs as `/init`.
    public var agentPath: String
    /// Each instance's cgroup is `<parent>/<uuid>` in every hierarchy.
    public var cgroupParent: String
    /// `qemu-system-x86_64`; looked up on `PATH` when nil.
    public var qemuPath: String?
    /// `qemu-img`; looked up on `PATH` when nil.
    public var qemuImgPath: String?
    /// `mkfs.ext4`; looked up on `PATH` when nil.
    public var mkfsPath: String?
    /// The default kernel; the host's cloud kernel when nil.
    public var kernelPath: String?
    public var accelerator: VMAcceleratorChoice
    public var machine: VMMachine
    /// From QEMU's launch to the agent's `ready`, at most; preparing the disks
    /// before it is not counted.
    public var bootTimeout: Duration
    /// How long the agent lets the workload handle SIGTERM before SIGKILL on
    /// `terminate`; below the engine's own grace so the workload's exit is still
    /// reported before the engine escalates to `kill`.
    public var shutdownGraceMilliseconds: UInt32
    /// Bound on each instance's retained log (the serial console).
    public var logBoundBytes: Int
    /// The fewest MiB of guest memory a VM may have: the kernel and agent need it.
    public var minimumMemoryMB: Int
    public var maximumVCPUs: Int

    public init(
        stateDirectory: String,
        shimPath: String,
        agentPath: String,
        cgroupParent: String = "corral",
        qemuPath: String? = nil,
        qemuImgPath: String? = nil,
        mkfsPath: String? = nil,
        kernelPath: String? = nil,
        accelerator: VMAcceleratorChoice = .auto,
        machine: VMMachine = .microvm,
        bootTimeout: Duration = .seconds(120),
        shutdownGraceMilliseconds: UInt32 = 8_000,
        logBoundBytes: Int = 8 << 20,
        minimumMemoryMB: Int = 64,
        maximumVCPUs: Int = 64
    ) {
        self.stateDirectory = stateDirectory
        self.shimPath = shimPath
        self.agentPath = agentPath
        self.cgroupParent = cgroupParent
        self.qemuPath = qemuPath
        self.qemuImgPath = qemuImgPath
        self.mkfsPath = mkfsPath
        self.kernelPath = kernelPath
        self.accelerator = accelerator
        self.machine = machine
        self.bootTimeout = bootTimeout
        self.shutdownGraceMilliseconds = shutdownGraceMilliseconds
        self.logBoundBytes = logBoundBytes
        self.minimumMemoryMB = minimumMemoryMB
        self.maximumVCPUs = maximumVCPUs
    }

    var cacheDirectory: String { "\(stateDirectory)/vm" }
}
