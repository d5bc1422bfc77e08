/// `configure`: everything the agent needs to turn the booted initramfs into the
/// instance: the root disk to switch to, volumes, network, identity and workload.
///
/// Sent once by the host right after it connects to the agent channel, answered by
/// `ok` once the workload runs, or by `error` (after which the agent powers off).
/// Resending an equal configuration is answered `ok`; a different one is refused.
public struct GuestConfig: Equatable, Sendable {
    public var workload: WorkloadSpec
    /// The workload's user, group and supplementary groups, already resolved by the host.
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]
    public var hostname: String
    /// The block device holding the root file system, e.g. `/dev/vda`.
    public var rootDevice: String
    /// Its file system type, e.g. `ext4`.
    public var rootFileSystem: String
    /// nil: only the loopback interface is configured.
    public var network: GuestNetwork?
    public var volumes: [GuestVolume]

    public init(
        workload: WorkloadSpec, uid: UInt32 = 0, gid: UInt32 = 0, groups: [UInt32] = [], hostname: String,
        rootDevice: String = "/dev/vda", rootFileSystem: String = "ext4", network: GuestNetwork? = nil,
        volumes: [GuestVolume] = []
    ) {
        self.workload = workload
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.hostname = hostname
        self.rootDevice = rootDevice
        self.rootFileSystem = rootFileSystem
        self.network = network
        self.volumes = volumes
    }
}

/// The guest's one network interface, found by its MAC address.
public struct GuestNetwork: Equatable, Sendable {
    /// `52:54:00:xx:xx:xx`, compared case-insensitively with the guest's interfaces.
    public var mac: String
    /// Dotted IPv4 address.
    public var address: String
    public var prefixLength: UInt8
    /// Dotted IPv4 address of the default route's gateway; nil: no default route.
    public var gateway: String?
    /// Dotted IPv4 addresses written to `/etc/resolv.conf`.
    public var nameservers: [String]

    public init(mac: String, address: String, prefixLength: UInt8, gateway: String? = nil, nameservers: [String] = []) {
        self.mac = mac
        self.address = address
        self.prefixLength = prefixLength
        self.gateway = gateway
        self.nameservers = nameservers
    }
}

/// A further block device mounted in the new root; the mount point is created.
public struct GuestVolume: Equatable, Sendable {
    public var device: String
    public var mountPoint: String
    public var fileSystem: String
    public var readOnly: Bool

    public init(device: String, mountPoint: String, fileSystem: String = "ext4", readOnly: Bool = false) {
        self.device = device
        self.mountPoint = mountPoint
        self.fileSystem = fileSystem
        self.readOnly = readOnly
    }
}

extension GuestConfig {
    /// The configuration as payload fields. Network and volumes are nested payloads.
    func write(to writer: inout AgentPayloadWriter) {
        typealias Tag = AgentMessage.Tag
        writer.bytes(Tag.workload, workload.encoded())
        writer.int(Tag.uid, Int64(uid))
        writer.int(Tag.gid, Int64(gid))
        for group in groups { writer.int(Tag.group, Int64(group)) }
        writer.string(Tag.hostname, hostname)
        writer.string(Tag.rootDevice, rootDevice)
        writer.string(Tag.fileSystem, rootFileSystem)
        if let network {
            var nested = AgentPayloadWriter()
            nested.string(Tag.mac, network.mac)
            nested.string(Tag.address, network.address)
            nested.int(Tag.prefixLength, Int64(network.prefixLength))
            if let gateway = network.gateway { nested.string(Tag.gateway, gateway) }
            nested.strings(Tag.nameserver, network.nameservers)
            writer.bytes(Tag.network, nested.bytes)
        }
        for volume in volumes {
            var nested = AgentPayloadWriter()
            nested.string(Tag.device, volume.device)
            nested.string(Tag.mountPoint, volume.mountPoint)
            nested.string(Tag.fileSystem, volume.fileSystem)
            if volume.readOnly { nested.bool(Tag.readOnly, true) }
            writer.bytes(Tag.volume, nested.bytes)
        }
    }

    init(fields: AgentPayloadReader) throws(AgentProtocolError) {
        typealias Tag = AgentMessage.Tag
        workload = try WorkloadSpec(encoded: try fields.bytes(Tag.workload, "workload"))
        uid = try fields.fitting(UInt32.self, Tag.uid, "uid")
        gid = try fields.fitting(UInt32.self, Tag.gid, "gid")
        groups = try fields.integers(UInt32.self, Tag.group, "group")
        hostname = try fields.string(Tag.hostname, "hostname")
        rootDevice = try fields.string(Tag.rootDevice, "rootDevice")
        rootFileSystem = try fields.string(Tag.fileSystem, "rootFileSystem")
        if let encoded = fields.optionalBytes(Tag.network) {
            let nested = try AgentPayloadReader(encoded, context: "configure network")
            network = GuestNetwork(
                mac: try nested.string(Tag.mac, "mac"), address: try nested.string(Tag.address, "address"),
                prefixLength: try nested.fitting(UInt8.self, Tag.prefixLength, "prefixLength"),
                gateway: try nested.optionalString(Tag.gateway, "gateway"),
                nameservers: try nested.strings(Tag.nameserver, "nameserver"))
        } else {
            network = nil
        }
        volumes = []
        for encoded in fields.all(Tag.volume) {
            let nested = try AgentPayloadReader(encoded, context: "configure volume")
            volumes.append(
                GuestVolume(
                    device: try nested.string(Tag.device, "device"),
                    mountPoint: try nested.string(Tag.mountPoint, "mountPoint"),
                    fileSystem: try nested.string(Tag.fileSystem, "fileSystem"),
                    readOnly: try nested.bool(Tag.readOnly, "readOnly")))
        }
    }
}
