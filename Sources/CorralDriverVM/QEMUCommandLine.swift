/// The argv of one QEMU process running one instance (or the accelerator probe).
///
/// The serial console is QEMU's stdio (the shim's log); the agent's virtio-serial
/// port `corral.agent` and QMP are unix sockets QEMU listens on without waiting for
/// a client. `-no-reboot` turns the guest's reboot or power-off into QEMU's exit.
public struct QEMUCommandLine: Sendable, Equatable {
    public struct Network: Sendable, Equatable {
        public var tap: String
        public var mac: String

        public init(tap: String, mac: String) {
            self.tap = tap
            self.mac = mac
        }
    }

    public var executable: String
    public var machine: VMMachine
    public var accelerator: VMAccelerator
    public var memoryMB: Int
    public var vcpus: Int
    public var kernel: String
    public var initrd: String
    public var kernelCommandLine: String
    /// The root disk (a qcow2 overlay); nil boots without disks (the probe).
    public var rootDisk: String?
    /// The unix socket of the agent's port; nil: no agent channel (the probe).
    public var agentSocket: String?
    /// The unix socket of QMP; nil: no QMP (the probe).
    public var qmpSocket: String?
    public var network: Network?
    /// Raw ext4 volume files, attached after the root disk as `virtio-blk` disks
    /// whose serials are `Self.volumeSerial(index)`.
    public var volumes: [Volume]

    public struct Volume: Sendable, Equatable {
        public var path: String
        public var readOnly: Bool

        public init(path: String, readOnly: Bool) {
            self.path = path
            self.readOnly = readOnly
        }
    }

    /// The serial of volume `index`: the guest finds the disk by it
    /// (`/sys/block/*/serial`), as device names follow probe order.
    public static func volumeSerial(_ index: Int) -> String { "corral-vol\(index)" }

    public init(
        executable: String, machine: VMMachine, accelerator: VMAccelerator, memoryMB: Int, vcpus: Int,
        kernel: String, initrd: String, kernelCommandLine: String, rootDisk: String? = nil,
        agentSocket: String? = nil, qmpSocket: String? = nil, network: Network? = nil, volumes: [Volume] = []
    ) {
        self.executable = executable
        self.machine = machine
        self.accelerator = accelerator
        self.memoryMB = memoryMB
        self.vcpus = vcpus
        self.kernel = kernel
        self.initrd = initrd
        self.kernelCommandLine = kernelCommandLine
        self.rootDisk = rootDisk
        self.agentSocket = agentSocket
        self.qmpSocket = qmpSocket
        self.network = network
        self.volumes = volumes
    }

    /// The full argv, `argv[0]` first.
    public var arguments: [String] {
        var args = [executable]
        args += ["-M", machine.rawValue]
        args += ["-accel", accelerator == .kvm ? "kvm" : "tcg"]
        args += ["-cpu", accelerator == .kvm ? "host" : "max"]
        args += [
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-m", "\(memoryMB)M", "-smp", "\(vcpus)",
            "-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con",
            "-kernel", kernel, "-initrd", initrd, "-append", kernelCommandLine,
        ]
        let bus = machine == .microvm ? "device" : "pci"
        // Entropy from the host at boot: without it the guest's first getrandom()
        // waits for its own pool, seconds under software emulation.
        args += ["-object", "rng-random,filename=/dev/urandom,id=rng0", "-device", "virtio-rng-\(bus),rng=rng0"]
        if let rootDisk {
            args += [
                "-drive", "id=root,file=\(Self.escape(rootDisk)),format=qcow2,if=none,cache=writeback,discard=unmap",
                "-device", "virtio-blk-\(bus),drive=root",
            ]
        }
        for (index, volume) in volumes.enumerated() {
            let readOnly = volume.readOnly ? ",readonly=on" : ""
            args += [
                "-drive", "id=vol\(index),file=\(Self.escape(volume.path)),format=raw,if=none,cache=writeback\(readOnly)",
                "-device", "virtio-blk-\(bus),drive=vol\(index),serial=\(Self.volumeSerial(index))",
            ]
        }
        if let agentSocket {
            args += [
                "-chardev", "socket,id=agent,path=\(Self.escape(agentSocket)),server=on,wait=off",
                "-device", "virtio-serial-\(bus),id=vser",
                "-device", "virtserialport,bus=vser.0,chardev=agent,name=corral.agent",
            ]
        }
        if let qmpSocket {
            args += [
                "-chardev", "socket,id=qmp,path=\(Self.escape(qmpSocket)),server=on,wait=off",
                "-mon", "chardev=qmp,mode=control",
            ]
        }
        if let network {
            args += [
                "-netdev", "tap,id=net0,ifname=\(network.tap),script=no,downscript=no,vhost=off",
                "-device", "virtio-net-\(bus),netdev=net0,mac=\(network.mac)",
            ]
        }
        return args
    }

    /// A value inside QEMU's comma-separated option syntax: commas are doubled.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: ",", with: ",,")
    }
}
