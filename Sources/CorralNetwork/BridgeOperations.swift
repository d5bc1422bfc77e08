import CorralCore
import CorralHost
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The steps of `BridgeNetwork`, synchronous, for its worker thread.
struct BridgeOperations: Sendable {
    static let forwardingControl = "/proc/sys/net/ipv4/ip_forward"

    let configuration: BridgeConfiguration
    let ipam: IPAM
    let tools: NetworkTools
    let logger: Logger
    /// Whether `ensureBridge` has succeeded since the last `teardown`, so `attach`
    /// can skip it.
    let bridgeReady = ReadyFlag()

    final class ReadyFlag: Sendable {
        private let state = Mutex(false)
        var value: Bool {
            get { state.withLock { $0 } }
            set { state.withLock { $0 = newValue } }
        }
    }

    private var bridge: String { configuration.bridgeName }
    private var subnet: IPv4Subnet { configuration.subnet }
    private var nat: NATRules {
        NATRules(table: configuration.natTableName, subnet: subnet, bridge: bridge)
    }

    func attachment(_ allocation: IPAllocation) -> NetworkAttachment {
        let names = InstanceNetworkNames(allocation.instance)
        return NetworkAttachment(
            instance: allocation.instance,
            interfaceID: InstanceNetworkNames.interfaceID(of: allocation.instance),
            namespacePath: names.namespacePath,
            ip: allocation.address,
            prefixLength: subnet.prefixLength,
            gateway: subnet.gateway,
            mac: allocation.mac,
            hostInterface: names.hostInterface
        )
    }

    // MARK: Bridge

    func ensureBridge() throws(CorralError) {
        let gateway = "\(subnet.gateway)/\(subnet.prefixLength)"
        var link = try tools.link(bridge)
        if let existing = link, existing.kind != "bridge" {
            throw .conflict(
                "failed to set up bridge \(bridge): an interface of that name exists and is "
                    + "\(existing.kind.map { "a \($0)" } ?? "not a bridge")"
            )
        }
        if link == nil {
            try tools.ip(["link", "add", "name", bridge, "type", "bridge"], action: "create bridge \(bridge)")
            link = try tools.link(bridge)
        }
        if link?.hasIPv4(subnet.gateway, prefixLength: subnet.prefixLength) != true {
            try tools.ip(["address", "replace", gateway, "dev", bridge], action: "add \(gateway) to bridge \(bridge)")
        }
        if link?.isUp != true {
            try tools.ip(["link", "set", "dev", bridge, "up"], action: "bring bridge \(bridge) up")
        }
        try enableForwarding()
        try ensureNAT()
        guard let verified = try tools.link(bridge), verified.kind == "bridge", verified.isUp,
              verified.hasIPv4(subnet.gateway, prefixLength: subnet.prefixLength)
        else {
            throw .internal("failed to set up bridge \(bridge): it is not up with \(gateway) after setting it up")
        }
        bridgeReady.value = true
    }

    private func enableForwarding() throws(CorralError) {
        let path = Self.forwardingControl
        if (try? FileSystem.readText(path))??.trimmingCharacters(in: .whitespacesAndNewlines) == "1" { return }
        do {
            try FileSystem.writeControl(path, "1\n")
        } catch {
            throw .internal("failed to enable IPv4 forwarding", cause: error)
        }
        guard (try? FileSystem.readText(path))??.trimmingCharacters(in: .whitespacesAndNewlines) == "1" else {
            throw .internal("failed to enable IPv4 forwarding: \(path) does not read 1 after writing it")
        }
    }

    /// Corral's NAT table as `nft -j` lists it, or nil when there is none.
    private func natListing() throws(CorralError) -> String? {
        let output = try tools.nft(["-j", "list", "table", "ip", nat.table])
        if output.succeeded { return output.standardOutput }
        if output.standardError.contains("No such file or directory") { return nil }
        throw NetworkTools.failure("list NAT table ip \(nat.table)", output)
    }

    private func ensureNAT() throws(CorralError) {
        if let listing = try natListing(), nat.matches(listing: listing) { return }
        let output = try tools.nft(["-f", "-"], input: nat.script)
        guard output.succeeded else { throw NetworkTools.failure("install NAT table ip \(nat.table)", output) }
        guard let listing = try natListing(), nat.matches(listing: listing) else {
            throw .internal("failed to install NAT table ip \(nat.table): it does not hold the masquerade rule afterwards")
        }
    }

    func teardown() throws(CorralError) {
        let leases = try ipam.allocations()
        guard leases.isEmpty else {
            throw .invalidState("failed to tear down bridge \(bridge): \(leases.count) instances are still attached")
        }
        bridgeReady.value = false
        if try natListing() != nil {
            let output = try tools.nft(["delete", "table", "ip", nat.table])
            guard output.succeeded else { throw NetworkTools.failure("delete NAT table ip \(nat.table)", output) }
        }
        if try tools.link(bridge) != nil {
            try tools.ip(["link", "delete", "dev", bridge], action: "delete bridge \(bridge)")
        }
        guard try natListing() == nil, try tools.link(bridge) == nil else {
            throw .internal("failed to tear down bridge \(bridge): it or its NAT table is still there")
        }
    }

    // MARK: Instances

    func attach(_ instance: UUID) throws(CorralError) -> NetworkAttachment {
        if !bridgeReady.value { try ensureBridge() }
        let names = InstanceNetworkNames(instance)
        var undo = SynchronousUndoStack()
        do throws(CorralError) {
            let (allocation, created) = try reserveLease(for: instance, undo: &undo)
            let result = attachment(allocation)
            if created {
                try plumb(result, names: names, undo: &undo)
            } else {
                try replumb(result, names: names, undo: &undo)
            }
            undo.commit()
            logger.debug("attached instance \(instance) as \(result.ip) on \(bridge) via \(names.hostInterface)")
            return result
        } catch {
            undo.unwind()
            throw error
        }
    }

    /// A lease made just now, so nothing of the instance's may exist yet: the
    /// namespace and the veth are made over rtnetlink, each step acknowledged by
    /// the kernel (no `ip` process, no read-back needed).
    private func plumb(
        _ attachment: NetworkAttachment, names: InstanceNetworkNames, undo: inout SynchronousUndoStack
    ) throws(CorralError) {
        let failure = "failed to attach instance \(names.instance)"
        do throws(Netlink.Failure) {
            try Netlink.addNamespace(names.namespacePath)
        } catch {
            if error.errno == EEXIST {
                throw .conflict("\(failure): network namespace \(names.namespaceName) already exists and is not this network's")
            }
            throw .internal("\(failure): cannot create network namespace \(names.namespaceName): \(error.reason)")
        }
        undo.push { [logger] in Self.deleteNamespaceQuietly(names.namespaceName, logger: logger) }
        do throws(Netlink.Failure) {
            try Netlink.attachVeth(Netlink.VethRequest(
                hostName: names.hostInterface, alias: names.alias, bridge: bridge,
                peerName: NetworkAttachment.interfaceName, peerMAC: attachment.mac,
                namespacePath: names.namespacePath, address: attachment.ip,
                prefixLength: attachment.prefixLength, gateway: attachment.gateway
            ))
        } catch {
            if error.errno == EEXIST {
                throw .conflict("\(failure): interface \(names.hostInterface) already exists and belongs to something else")
            }
            throw .internal("\(failure): cannot \(error.reason)")
        }
    }

    /// A lease kept from before (a restart, a retried start): whatever of the
    /// namespace and veth survived is checked and completed with `ip`, and the
    /// result is read back.
    private func replumb(
        _ result: NetworkAttachment, names: InstanceNetworkNames, undo: inout SynchronousUndoStack
    ) throws(CorralError) {
        try ensureNamespace(names, undo: &undo)
        let host = try ensureVeth(names, mac: result.mac, undo: &undo)
        let eth0 = NetworkAttachment.interfaceName
        let inside = try tools.ipBatchReadingBack(
            [
                "link set dev lo up",
                "address replace \(result.ip)/\(result.prefixLength) dev \(eth0)",
                "link set dev \(eth0) up",
                "route replace default via \(result.gateway) dev \(eth0)",
                "address show",
                "route show default",
            ],
            namespace: names.namespaceName,
            action: "configure \(eth0) of instance \(names.instance)"
        )
        guard inside.count == 2 else {
            throw .internal("failed to attach instance \(names.instance): ip printed \(inside.count) results, not 2")
        }
        try verify(
            result,
            names: names,
            host: host,
            inside: try NetworkTools.decodeLinks(inside[0]),
            routes: try NetworkTools.decodeRoutes(inside[1])
        )
    }

    /// The lease of `instance`, made now if it has none (then released by `undo`);
    /// says whether this call made it.
    func reserveLease(
        for instance: UUID, undo: inout SynchronousUndoStack
    ) throws(CorralError) -> (allocation: IPAllocation, created: Bool) {
        let (allocation, created) = try ipam.reserve(for: instance)
        if created {
            undo.push { [ipam, logger] in
                do throws(CorralError) {
                    try ipam.release(instance)
                } catch {
                    logger.warning("failed to release the lease of instance \(instance) after a failed attach: \(error)")
                }
            }
        }
        return (allocation, created)
    }

    private func ensureNamespace(_ names: InstanceNetworkNames, undo: inout SynchronousUndoStack) throws(CorralError) {
        if access(names.namespacePath, F_OK) == 0 { return }
        do throws(Netlink.Failure) {
            try Netlink.addNamespace(names.namespacePath)
        } catch {
            throw .internal("failed to create network namespace \(names.namespaceName): \(error.reason)")
        }
        undo.push { [logger] in Self.deleteNamespaceQuietly(names.namespaceName, logger: logger) }
    }

    /// Makes sure the instance's veth pair exists, its host end an up port of the
    /// bridge carrying the instance's alias, and returns the host end as read back.
    private func ensureVeth(
        _ names: InstanceNetworkNames,
        mac: MACAddress,
        undo: inout SynchronousUndoStack
    ) throws(CorralError) -> LinkRecord? {
        let host = names.hostInterface
        let peer = NetworkAttachment.interfaceName
        let connect = "link set dev \(host) master \(bridge) alias \(names.alias) up"
        let readBack = "address show dev \(host)"
        if let existing = try tools.link(host) {
            guard existing.ifalias == names.alias else {
                throw .conflict(
                    "failed to attach instance \(names.instance): interface \(host) already exists and belongs to "
                        + (existing.ifalias.map { "\"\($0)\"" } ?? "something else")
                )
            }
            let inside = try tools.link(peer, namespace: names.namespaceName)
            if inside?.address == mac.description {
                let lines = try tools.ipBatchReadingBack([connect, readBack], action: "connect \(host) to bridge \(bridge)")
                return try lines.first.flatMap { line throws(CorralError) in try NetworkTools.decodeLinks(line).first }
            }
            // Left by an interrupted attempt whose other end is missing or wrong: start over.
            try Self.deleteLink(host, action: "delete stale interface \(host)")
        }
        undo.push { [logger] in Self.deleteLinkQuietly(host, logger: logger) }
        let lines = try tools.ipBatchReadingBack(
            ["link add \(host) type veth peer name \(peer) address \(mac) netns \(names.namespacePath)", connect, readBack],
            action: "create veth \(host) for instance \(names.instance)"
        )
        return try lines.first.flatMap { line throws(CorralError) in try NetworkTools.decodeLinks(line).first }
    }

    /// Checks what `attach` read back after acting: the host end is an up port of
    /// the bridge with the alias; inside, `eth0` is up with the MAC and address,
    /// loopback is up, and the default route goes via the gateway.
    private func verify(
        _ attachment: NetworkAttachment,
        names: InstanceNetworkNames,
        host: LinkRecord?,
        inside: [LinkRecord],
        routes: [RouteRecord]
    ) throws(CorralError) {
        let failure = "failed to attach instance \(attachment.instance)"
        guard let host, host.master == bridge, host.isUp, host.ifalias == names.alias else {
            throw .internal("\(failure): \(names.hostInterface) is not an up port of \(bridge) afterwards")
        }
        guard let eth0 = inside.first(where: { $0.ifname == NetworkAttachment.interfaceName }), eth0.isUp,
              eth0.address == attachment.mac.description,
              eth0.hasIPv4(attachment.ip, prefixLength: attachment.prefixLength)
        else {
            throw .internal(
                "\(failure): \(NetworkAttachment.interfaceName) is not up with \(attachment.ip) and \(attachment.mac) afterwards"
            )
        }
        guard inside.contains(where: { $0.ifname == "lo" && $0.isUp }) else {
            throw .internal("\(failure): loopback is not up afterwards")
        }
        guard routes.contains(where: {
            $0.gateway == attachment.gateway.description && $0.dev == NetworkAttachment.interfaceName
        }) else {
            throw .internal("\(failure): no default route via \(attachment.gateway) afterwards")
        }
    }

    func detach(_ instance: UUID) throws(CorralError) {
        let names = InstanceNetworkNames(instance)
        let lease = try ipam.allocation(for: instance)
        var ownsNamespace = lease != nil
        try deleteTap(names)
        if let alias = try Self.alias(of: names.hostInterface) {
            if alias == names.alias {
                ownsNamespace = true
                try Self.deleteLink(names.hostInterface, action: "delete veth \(names.hostInterface)")
            } else {
                logger.warning("left interface \(names.hostInterface) alone while detaching instance \(instance): it is not this instance's")
            }
        }
        if ownsNamespace {
            try Self.deleteNamespace(names.namespaceName)
        }
        if try Self.alias(of: names.hostInterface) == names.alias {
            throw .internal("failed to detach instance \(instance): \(names.hostInterface) is still there")
        }
        if ownsNamespace, access(names.namespacePath, F_OK) == 0 {
            throw .internal("failed to detach instance \(instance): network namespace \(names.namespaceName) is still there")
        }
        try ipam.release(instance)
        logger.debug("detached instance \(instance)")
    }

    // MARK: Recovery

    /// Creates nothing unless a live instance needs its network back: the bridge,
    /// forwarding and NAT appear with the first attach, never at start-up.
    func recover(liveInstances: Set<UUID>, liveTaps: Set<UUID> = []) throws(CorralError) -> NetworkRecoveryReport {
        var report = NetworkRecoveryReport()
        for lease in try ipam.allocations() {
            do throws(CorralError) {
                if liveTaps.contains(lease.instance) {
                    report.keptTaps.append(try attachTap(lease.instance))
                } else if liveInstances.contains(lease.instance) {
                    report.kept.append(try attach(lease.instance))
                } else {
                    try detach(lease.instance)
                    report.released.append(lease.instance)
                }
            } catch {
                logger.error("failed to recover the network of instance \(lease.instance): \(error)")
                report.failures[lease.instance] = error
            }
        }
        let leased = Set(try ipam.allocations().map(\.instance))
        try removeOrphanedTaps(leased: leased, report: &report)
        for link in try tools.links(kind: "veth") where link.ifname.hasPrefix(InstanceNetworkNames.hostInterfacePrefix) {
            guard let owner = InstanceNetworkNames.instance(fromAlias: link.ifalias), !leased.contains(owner) else { continue }
            let names = InstanceNetworkNames(owner)
            guard names.hostInterface == link.ifname else { continue }
            do throws(CorralError) {
                try Self.deleteLink(link.ifname, action: "delete orphaned veth \(link.ifname)")
                try Self.deleteNamespace(names.namespaceName)
                report.orphansRemoved.append(link.ifname)
            } catch {
                logger.error("failed to remove orphaned veth \(link.ifname): \(error)")
                report.failures[owner] = error
            }
        }
        return report
    }

    // MARK: Netlink steps

    static func alias(of link: String) throws(CorralError) -> String? {
        do throws(Netlink.Failure) {
            return try Netlink.alias(of: link)
        } catch {
            throw .internal("failed to look up interface \(link): \(error.reason)")
        }
    }

    static func deleteLink(_ name: String, action: String) throws(CorralError) {
        do throws(Netlink.Failure) {
            try Netlink.deleteLink(name)
        } catch {
            throw .internal("failed to \(action): \(error.reason)")
        }
    }

    static func deleteNamespace(_ name: String) throws(CorralError) {
        do throws(Netlink.Failure) {
            try Netlink.deleteNamespace(NetworkTools.namespacePath(name))
        } catch {
            throw .internal("failed to delete network namespace \(name): \(error.reason)")
        }
    }

    // MARK: Undo

    static func deleteLinkQuietly(_ name: String, logger: Logger) {
        do throws(CorralError) {
            try deleteLink(name, action: "delete interface \(name)")
        } catch {
            logger.warning("failed to undo the creation of interface \(name): \(error)")
        }
    }

    private static func deleteNamespaceQuietly(_ name: String, logger: Logger) {
        do throws(CorralError) {
            try deleteNamespace(name)
        } catch {
            logger.warning("failed to undo the creation of network namespace \(name): \(error)")
        }
    }
}
