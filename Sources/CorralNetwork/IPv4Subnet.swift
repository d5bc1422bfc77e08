/// An IPv4 subnet for instances: the network address, the prefix length, and
/// the addresses Corral derives from them.
///
/// The first host address is the gateway (the bridge's own address); instances
/// get the addresses after it, up to but excluding the broadcast address.
public struct IPv4Subnet: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The smallest accepted prefix: larger networks are refused as a likely mistake.
    public static let minimumPrefixLength = 8
    /// The largest accepted prefix: a /30 still leaves a gateway and one instance.
    public static let maximumPrefixLength = 30

    /// `10.88.0.0/16`, the default instance subnet.
    public static let defaultInstanceSubnet = IPv4Subnet(
        uncheckedNetwork: IPv4Address(value: 0x0A58_0000),
        prefixLength: 16
    )

    public let network: IPv4Address
    public let prefixLength: Int

    /// A subnet from its network address and prefix length. Nil when the prefix is
    /// outside `minimumPrefixLength...maximumPrefixLength` or `network` has host bits set.
    public init?(network: IPv4Address, prefixLength: Int) {
        guard (Self.minimumPrefixLength...Self.maximumPrefixLength).contains(prefixLength) else { return nil }
        guard network.value & ~Self.mask(prefixLength) == 0 else { return nil }
        self.init(uncheckedNetwork: network, prefixLength: prefixLength)
    }

    /// Parses CIDR text such as `10.88.0.0/16`, with the rules of `init(network:prefixLength:)`.
    public init?(_ cidr: some StringProtocol) {
        let parts = cidr.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPv4Address(parts[0]),
              parts[1].count <= 2, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }),
              let prefix = Int(parts[1])
        else { return nil }
        self.init(network: address, prefixLength: prefix)
    }

    private init(uncheckedNetwork: IPv4Address, prefixLength: Int) {
        self.network = uncheckedNetwork
        self.prefixLength = prefixLength
    }

    private static func mask(_ prefixLength: Int) -> UInt32 {
        prefixLength == 0 ? 0 : UInt32.max << UInt32(32 - prefixLength)
    }

    /// The bridge's address: the first host address.
    public var gateway: IPv4Address { IPv4Address(value: network.value + 1) }

    public var broadcast: IPv4Address { IPv4Address(value: network.value | ~Self.mask(prefixLength)) }

    /// The addresses instances may get: after the gateway, before the broadcast address.
    public var instanceAddresses: ClosedRange<UInt32> { (network.value + 2)...(broadcast.value - 1) }

    public func contains(_ address: IPv4Address) -> Bool {
        address.value & Self.mask(prefixLength) == network.value
    }

    public var description: String { "\(network)/\(prefixLength)" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let subnet = IPv4Subnet(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an IPv4 subnet: \(text)")
        }
        self = subnet
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
