import Foundation

/// The names of an instance's network objects, all derived from its UUID so that
/// they can be found again after a restart.
struct InstanceNetworkNames: Sendable, Equatable {
    static let namespacePrefix = "corral-"
    static let hostInterfacePrefix = "vc"
    static let tapPrefix = "vt"
    static let aliasPrefix = "corral:"

    let instance: UUID
    /// `corral-<first 12 hex digits>`, under `/run/netns`.
    let namespaceName: String
    /// `vc<first 8 hex digits>`: interface names have at most 15 characters.
    let hostInterface: String
    /// `vt<first 8 hex digits>`: the tap of a VM instance.
    let tap: String
    /// `corral:<uuid>`, set as the host interface's alias: it names the owner in
    /// full, so a prefix collision is detected instead of reusing another's veth.
    let alias: String

    init(_ instance: UUID) {
        let hex = instance.uuidString.lowercased().filter { $0 != "-" }
        self.instance = instance
        self.namespaceName = Self.namespacePrefix + hex.prefix(12)
        self.hostInterface = Self.hostInterfacePrefix + hex.prefix(8)
        self.tap = Self.tapPrefix + hex.prefix(8)
        self.alias = Self.aliasPrefix + instance.uuidString.lowercased()
    }

    var namespacePath: String { NetworkTools.namespacePath(namespaceName) }

    /// The instance a host interface alias names, or nil when it is not Corral's.
    static func instance(fromAlias alias: String?) -> UUID? {
        guard let alias, alias.hasPrefix(aliasPrefix) else { return nil }
        return UUID(uuidString: String(alias.dropFirst(aliasPrefix.count)))
    }

    /// The stable interface identifier of `instance`: its UUID hashed with a fixed
    /// salt, shaped as a version 4 UUID.
    static func interfaceID(of instance: UUID) -> UUID {
        var bytes = withUnsafeBytes(of: instance.uuid) { Array($0) }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (index, byte) in bytes.enumerated() {
            hash ^= UInt64(byte) ^ 0x6e
            hash = hash &* 0x0000_0100_0000_01b3
            bytes[index] = byte ^ UInt8(truncatingIfNeeded: hash >> 29)
        }
        bytes[6] = (bytes[6] & 0x0f) | 0x40
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}
