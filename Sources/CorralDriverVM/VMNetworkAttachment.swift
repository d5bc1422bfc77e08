/// A VM's place on the bridge.
public struct VMNetworkAttachment: Sendable, Equatable {
    /// The host's tap device, a port of the bridge; QEMU opens it by name.
    public var tap: String
    /// `52:54:00:…`-style MAC address of the guest's interface.
    public var mac: String
    /// The guest's address, without prefix length.
    public var ip: String
    public var prefixLength: Int
    public var gateway: String
    /// Written to the guest's `/etc/resolv.conf`; none: the image's own file stays.
    public var nameservers: [String]

    public init(tap: String, mac: String, ip: String, prefixLength: Int, gateway: String, nameservers: [String] = []) {
        self.tap = tap
        self.mac = mac
        self.ip = ip
        self.prefixLength = prefixLength
        self.gateway = gateway
        self.nameservers = nameservers
    }
}
