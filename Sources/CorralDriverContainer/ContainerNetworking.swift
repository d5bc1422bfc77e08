import CorralCore
import Foundation

/// Where a container's network comes from: a network namespace prepared by someone
/// else (a veth on a bridge, an address from IPAM), joined by the container.
///
/// Without one, a container gets a network namespace of its own with only loopback.
public protocol ContainerNetworking: Sendable {
    /// Prepares the instance's network namespace and interface, and publishes
    /// `ports` on the host. Idempotent: for an
    /// instance already attached it returns the existing attachment.
    func attach(_ uuid: UUID, name: String, ports: [PortMapping]) async throws(CorralError) -> NetworkAttachment

    /// Releases everything `attach` created for the instance (namespace, interface,
    /// address). Idempotent; never fails: what cannot be released is logged by the
    /// implementation.
    func detach(_ uuid: UUID) async

    /// Publishes `ports` of an instance attached earlier, at its address `ip`.
    func publish(_ uuid: UUID, ports: [PortMapping], ip: String) async throws(CorralError)
}
