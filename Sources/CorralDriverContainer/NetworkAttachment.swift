/// A prepared network namespace and the container's place in it.
public struct NetworkAttachment: Sendable, Equatable {
    /// A path that names the namespace (`/run/netns/<name>` or `/proc/<pid>/ns/net`).
    public var netnsPath: String
    /// The container's address, without prefix length.
    public var ip: String
    public var mac: String
    public var gateway: String
    /// Written to the container's `/etc/resolv.conf`; none: the image's own file stays.
    public var nameservers: [String]

    public init(netnsPath: String, ip: String, mac: String, gateway: String, nameservers: [String] = []) {
        self.netnsPath = netnsPath
        self.ip = ip
        self.mac = mac
        self.gateway = gateway
        self.nameservers = nameservers
    }
}
