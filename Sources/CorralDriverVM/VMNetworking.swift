import CorralCore
import Foundation

/// Where a VM's network comes from: a tap device on a bridge and an address from
/// IPAM, prepared by someone else. The guest agent configures the address inside.
public protocol VMNetworking: Sendable {
    /// Creates (or finds) the instance's tap with its leased address and MAC, and
    /// publishes `ports` on the host. Idempotent.
    func attach(_ uuid: UUID, name: String, ports: [PortMapping]) async throws(CorralError) -> VMNetworkAttachment

    /// Releases the tap, the lease and the published ports. Idempotent; never fails
    /// (what cannot be released is logged by the implementation).
    func detach(_ uuid: UUID) async
}
