import CorralCore
import CorralDriverContainer
import CorralNetwork
import Foundation
import Logging

/// Gives containers their network from the bridge: a namespace with a veth and a
/// leased address, and their published ports on the host's loopback.
struct BridgeContainerNetworking: ContainerNetworking {
    let bridge: BridgeNetwork
    let publisher: PortPublisher
    let nameservers: [String]
    let logger: Logger

    func attach(_ uuid: UUID, name: String, ports: [PortMapping]) async throws(CorralError) -> CorralDriverContainer.NetworkAttachment {
        let attachment = try await bridge.attach(uuid)
        do {
            try await publish(uuid, ports: ports, address: attachment.ip)
        } catch {
            await publisher.unpublish(uuid)
            try? await bridge.detach(uuid)
            throw error
        }
        return CorralDriverContainer.NetworkAttachment(
            netnsPath: attachment.namespacePath,
            ip: attachment.ip.description,
            mac: attachment.mac.description,
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

    func publish(_ uuid: UUID, ports: [PortMapping], ip: String) async throws(CorralError) {
        guard let address = IPv4Address(ip) else {
            throw .internal("failed to publish ports: instance address '\(ip)' is not IPv4")
        }
        do {
            try await publish(uuid, ports: ports, address: address)
        } catch {
            await publisher.unpublish(uuid)
            throw error
        }
    }

    /// Publishes `ports` of an instance whose address is known; for start and for
    /// re-adoption after a daemon restart (the proxy lives in the daemon).
    func publish(_ uuid: UUID, ports: [PortMapping], address: IPv4Address) async throws(CorralError) {
        for port in ports {
            _ = try await publisher.publish(uuid, hostPort: port.hostPort, target: PortTarget(address: address, port: port.instancePort))
        }
    }

    /// After a restart: keeps the networks of instances that still have a workload
    /// (`live` with a namespace and veth, `liveVMs` with a tap), removes the rest,
    /// and publishes the live ones' ports again.
    func recover(live: [UUID: [PortMapping]], liveVMs: [UUID: [PortMapping]] = [:]) async {
        do {
            let report = try await bridge.recover(liveInstances: Set(live.keys), liveTaps: Set(liveVMs.keys))
            if !report.failures.isEmpty {
                logger.error("network recovery left problems", metadata: ["failures": "\(report.failures)"])
            }
        } catch {
            logger.error("failed to recover instance networks", metadata: ["error": "\(error)"])
        }
        for (uuid, ports) in live.merging(liveVMs, uniquingKeysWith: { first, _ in first }) where !ports.isEmpty {
            do {
                guard let attachment = try await bridge.attachment(of: uuid) else { continue }
                try await publish(uuid, ports: ports, address: attachment.ip)
            } catch {
                logger.error("failed to publish ports again", metadata: ["uuid": "\(uuid)", "error": "\(error)"])
            }
        }
    }

    /// The host's resolvers that a container can reach (not loopback ones).
    static func hostNameservers() -> [String] {
        guard let text = try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "nameserver", !words[1].hasPrefix("127."), words[1] != "::1" else { return nil }
            return String(words[1])
        }
    }
}
