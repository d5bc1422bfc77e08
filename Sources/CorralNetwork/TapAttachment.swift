import Foundation

/// How a VM instance is connected to the bridge: a tap device that QEMU opens by
/// name, and the address and MAC its guest configures. The same for the same
/// instance as long as its lease lasts.
public struct TapAttachment: Sendable, Hashable, Codable {
    public let instance: UUID
    /// A stable identifier for the instance's interface, as for veths.
    public let interfaceID: UUID
    /// The tap's name (`vt<8 hex digits of the uuid>`), a port of the bridge.
    public let tap: String
    public let ip: IPv4Address
    public let prefixLength: Int
    public let gateway: IPv4Address
    /// The guest interface's MAC; the tap itself keeps a MAC of its own.
    public let mac: MACAddress

    public init(
        instance: UUID, interfaceID: UUID, tap: String, ip: IPv4Address, prefixLength: Int, gateway: IPv4Address,
        mac: MACAddress
    ) {
        self.instance = instance
        self.interfaceID = interfaceID
        self.tap = tap
        self.ip = ip
        self.prefixLength = prefixLength
        self.gateway = gateway
        self.mac = mac
    }
}
