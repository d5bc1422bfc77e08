/// Where and how `BridgeNetwork` builds the instance network.
public struct BridgeConfiguration: Sendable, Equatable {
    /// The bridge's interface name: 1 to 15 of `A-Z a-z 0-9 . _ -`.
    public var bridgeName: String
    /// The instance subnet; the bridge takes its first host address as the gateway.
    public var subnet: IPv4Subnet
    /// The network namespace (an nsfs file, such as `/run/netns/NAME`) in which the
    /// bridge, the host ends of the veths, IPv4 forwarding and the NAT table live;
    /// nil for the daemon's own. Instance namespaces are created under `/run/netns`
    /// either way.
    public var hostNamespacePath: String?
    /// The name of Corral's own nftables table (`table ip <name>`).
    public var natTableName: String
    /// The longest any one `ip` or `nft` command may take.
    public var commandTimeout: Duration

    public init(
        bridgeName: String = "corral0",
        subnet: IPv4Subnet = .defaultInstanceSubnet,
        hostNamespacePath: String? = nil,
        natTableName: String = "corral",
        commandTimeout: Duration = .seconds(10)
    ) {
        self.bridgeName = bridgeName
        self.subnet = subnet
        self.hostNamespacePath = hostNamespacePath
        self.natTableName = natTableName
        self.commandTimeout = commandTimeout
    }

    /// Why this configuration cannot be used, or nil when it can.
    public func problem() -> String? {
        let nameCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if bridgeName.isEmpty || bridgeName.count > 15 || !bridgeName.allSatisfy(nameCharacters.contains)
            || bridgeName == "." || bridgeName == ".."
        {
            return "bridge name \"\(bridgeName)\" must be 1 to 15 of A-Z a-z 0-9 . _ -"
        }
        if natTableName.isEmpty || natTableName.count > 64
            || !natTableName.allSatisfy({ $0 != "." && nameCharacters.contains($0) })
        {
            return "NAT table name \"\(natTableName)\" must be 1 to 64 of A-Z a-z 0-9 _ -"
        }
        if commandTimeout <= .zero { return "the command timeout must be positive" }
        return nil
    }
}
