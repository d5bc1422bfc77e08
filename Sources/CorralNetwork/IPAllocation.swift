import Foundation

/// An instance's lease on an address of the instance subnet, with the MAC address
/// its interface uses. Persisted by `IPAM` until released.
public struct IPAllocation: Hashable, Sendable, Codable {
    public let instance: UUID
    public let address: IPv4Address
    public let mac: MACAddress

    public init(instance: UUID, address: IPv4Address, mac: MACAddress) {
        self.instance = instance
        self.address = address
        self.mac = mac
    }
}
