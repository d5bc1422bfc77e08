import Foundation

/// How an instance is connected to the bridge: its network namespace, its address
/// and the interfaces at both ends. The same for the same instance as long as its
/// lease lasts.
public struct NetworkAttachment: Sendable, Hashable, Codable {
    /// The instance's interface name inside its namespace.
    public static let interfaceName = "eth0"

    public let instance: UUID
    /// A stable identifier for the instance's interface (`network_interfaces[].uuid`
    /// on the wire), derived from the instance's UUID.
    public let interfaceID: UUID
    /// The instance's network namespace file, for `setns`, `ip netns exec` or an OCI
    /// runtime spec's `linux.namespaces[].path`.
    public let namespacePath: String
    public let ip: IPv4Address
    public let prefixLength: Int
    public let gateway: IPv4Address
    public let mac: MACAddress
    /// The host end of the veth pair, a port of the bridge.
    public let hostInterface: String

    public init(
        instance: UUID,
        interfaceID: UUID,
        namespacePath: String,
        ip: IPv4Address,
        prefixLength: Int,
        gateway: IPv4Address,
        mac: MACAddress,
        hostInterface: String
    ) {
        self.instance = instance
        self.interfaceID = interfaceID
        self.namespacePath = namespacePath
        self.ip = ip
        self.prefixLength = prefixLength
        self.gateway = gateway
        self.mac = mac
        self.hostInterface = hostInterface
    }
}
