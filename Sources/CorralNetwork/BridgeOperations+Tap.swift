import CorralCore
import CorralHost
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension BridgeOperations {
    func tapAttachment(_ allocation: IPAllocation) -> TapAttachment {
        TapAttachment(
            instance: allocation.instance,
            interfaceID: InstanceNetworkNames.interfaceID(of: allocation.instance),
            tap: InstanceNetworkNames(allocation.instance).tap,
            ip: allocation.address,
            prefixLength: configuration.subnet.prefixLength,
            gateway: configuration.subnet.gateway,
            mac: allocation.mac
        )
    }

    /// Leases an address and MAC for `instance` and makes sure its persistent tap
    /// exists, carries the instance's alias, is a port of the bridge and is up.
    /// Measures, acts, verifies; a failure removes what this call created.
    func attachTap(_ instance: UUID) throws(CorralError) -> TapAttachment {
        if !bridgeReady.value { try ensureBridge() }
        let names = InstanceNetworkNames(instance)
        let bridge = configuration.bridgeName
        var undo = SynchronousUndoStack()
        do throws(CorralError) {
            let (allocation, _) = try reserveLease(for: instance, undo: &undo)
            let connect = "link set dev \(names.tap) master \(bridge) alias \(names.alias) up"
            let readBack = "address show dev \(names.tap)"
            let lines: [String]
            if let existing = try tools.link(names.tap) {
                guard existing.ifalias == names.alias || (existing.ifalias == nil && existing.kind == "tun") else {
                    throw .conflict(
                        "failed to attach instance \(instance): interface \(names.tap) already exists and belongs to "
                            + (existing.ifalias.map { "\"\($0)\"" } ?? "something else")
                    )
                }
                lines = try tools.ipBatchReadingBack([connect, readBack], action: "connect \(names.tap) to bridge \(bridge)")
            } else {
                undo.push { [logger] in Self.deleteLinkQuietly(names.tap, logger: logger) }
                lines = try tools.ipBatchReadingBack(
                    ["tuntap add dev \(names.tap) mode tap", connect, readBack],
                    action: "create tap \(names.tap) for instance \(instance)"
                )
            }
            let link = try lines.first.flatMap { line throws(CorralError) in try NetworkTools.decodeLinks(line).first }
            guard let link, link.master == bridge, link.isUp, link.ifalias == names.alias else {
                throw .internal("failed to attach instance \(instance): \(names.tap) is not an up port of \(bridge) afterwards")
            }
            undo.commit()
            let result = tapAttachment(allocation)
            logger.debug("attached instance \(instance) as \(result.ip) on \(bridge) via tap \(names.tap)")
            return result
        } catch {
            undo.unwind()
            throw error
        }
    }

    /// Deletes the instance's tap if it is this instance's (by alias). Returns
    /// whether there was one.
    @discardableResult
    func deleteTap(_ names: InstanceNetworkNames) throws(CorralError) -> Bool {
        guard let alias = try Self.alias(of: names.tap) else { return false }
        guard alias == names.alias else {
            logger.warning("left interface \(names.tap) alone while detaching instance \(names.instance): it is not this instance's")
            return false
        }
        try Self.deleteLink(names.tap, action: "delete tap \(names.tap)")
        if try Self.alias(of: names.tap) == names.alias {
            throw .internal("failed to detach instance \(names.instance): tap \(names.tap) is still there")
        }
        return true
    }

    /// Taps carrying Corral's alias whose instance holds no lease: removed.
    func removeOrphanedTaps(leased: Set<UUID>, report: inout NetworkRecoveryReport) throws(CorralError) {
        for link in try tools.links(kind: "tun") where link.ifname.hasPrefix(InstanceNetworkNames.tapPrefix) {
            guard let owner = InstanceNetworkNames.instance(fromAlias: link.ifalias), !leased.contains(owner),
                  InstanceNetworkNames(owner).tap == link.ifname
            else { continue }
            do throws(CorralError) {
                try Self.deleteLink(link.ifname, action: "delete orphaned tap \(link.ifname)")
                report.orphansRemoved.append(link.ifname)
            } catch {
                logger.error("failed to remove orphaned tap \(link.ifname): \(error)")
                report.failures[owner] = error
            }
        }
    }
}
