/// The persisted form of `IPAM`: what is leased, and where the next search starts.
struct IPAMState: Codable, Equatable, Sendable {
    static let currentVersion = 1

    var version: Int
    var subnet: IPv4Subnet
    /// The most recently leased address. The next search starts after it, so a
    /// released address is not handed out again until the subnet wraps around
    /// (peers and conntrack may still remember it).
    var lastAllocated: IPv4Address?
    /// Sorted by address, so the file reads in a stable order.
    var allocations: [IPAllocation]

    static func empty(_ subnet: IPv4Subnet) -> IPAMState {
        IPAMState(version: currentVersion, subnet: subnet, lastAllocated: nil, allocations: [])
    }

    /// Why this state cannot be used as it is, or nil when it is consistent.
    func inconsistency() -> String? {
        if version != Self.currentVersion { return "it has format version \(version), this Corral reads \(Self.currentVersion)" }
        var addresses = Set<IPv4Address>()
        var instances = Set<String>()
        for allocation in allocations {
            guard subnet.contains(allocation.address), subnet.instanceAddresses.contains(allocation.address.value) else {
                return "address \(allocation.address) is not an instance address of \(subnet)"
            }
            guard addresses.insert(allocation.address).inserted else {
                return "address \(allocation.address) is leased twice"
            }
            guard instances.insert(allocation.instance.uuidString).inserted else {
                return "instance \(allocation.instance) holds two leases"
            }
        }
        return nil
    }
}
