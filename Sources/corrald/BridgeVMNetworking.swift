import CorralCore
import CorralDriverVM
import CorralNetwork
import Foundation
import Logging

/// Gives VMs their network from the bridge: a tap with a leased address and MAC
/// (configured inside the guest by the agent), and their published ports on the
/// host's loopback, exactly as containers get theirs.
struct BridgeVMNetworking: VMNetworking {
    let bridge: BridgeNetwork
    let publisher: PortPublisher
    let nameservers: [String]
    let logger: Logger

    init(sharing containers: BridgeContainerNetworking) {
        bridge = containers.bridge
        publisher = containers.publisher
        nameservers = containers.nameservers
        logger = containers.logger
    }

    func attach(_ uuid: UUID, name: String, ports: [PortMapping]) async throws(CorralError) -> VMNetworkAttachment {
        let attachment = try await bridge.attachTap(uuid)
        do {
            for port in ports {
                _ = try await publisher.publish(
                    uuid, hostPort: port.hostPort, target: PortTarget(address: attachment.ip, port: port.instancePort)
                )
            }
        } catch {
            await publisher.unpublish(uuid)
            try? await bridge.detach(uuid)
            throw error
        }
        return VMNetworkAttachment(
            tap: attachment.tap,
            mac: attachment.mac.description,
            ip: attachment.ip.description,
            prefixLength: attachment.prefixLength,
            gateway: attachment.gateway.description,
            nameservers: nameservers
        )
    }

    func detach(_ uuid: UUID) async {
        await publisher.unpublish(uuid)
        do {
            try await bridge.detach(uuid)
        } catch {
            // The lease stays; recover() at the next start finishes the job.
            logger.error("failed to detach instance network", metadata: ["uuid": "\(uuid)", "error": "\(error)"])
        }
    }
}
