import Foundation

/// Where a published port forwards to: an instance's address and port.
public struct PortTarget: Sendable, Hashable, CustomStringConvertible {
    public let address: IPv4Address
    public let port: Int

    public init(address: IPv4Address, port: Int) {
        self.address = address
        self.port = port
    }

    public var description: String { "\(address):\(port)" }
}

/// A port published on the host: connections to `hostAddress:hostPort` are
/// forwarded to `target`.
public struct PublishedPort: Sendable, Hashable, CustomStringConvertible {
    public let instance: UUID
    public let hostAddress: String
    /// The bound port: the requested one, or the one the kernel chose for 0.
    public let hostPort: Int
    public let target: PortTarget

    public init(instance: UUID, hostAddress: String, hostPort: Int, target: PortTarget) {
        self.instance = instance
        self.hostAddress = hostAddress
        self.hostPort = hostPort
        self.target = target
    }

    public var description: String { "\(hostAddress):\(hostPort) -> \(target)" }
}
