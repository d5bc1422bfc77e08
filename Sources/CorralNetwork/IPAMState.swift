import CorralCore

/// What `IPAM` knows: what is leased, and where the next search starts. Kept in
/// the state store as an `AddressLeaseBook`; `Codable` for the `ipam.json` of
/// older Corrals, which `IPAM` imports.
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

extension IPAMState {
    /// The state a stored book describes. Throws `invalidState` naming what does not parse.
    init(book: AddressLeaseBook) throws(CorralError) {
        guard let subnet = IPv4Subnet(book.subnet) else {
            throw .invalidState("failed to load the address leases: subnet '\(book.subnet)' is not a.b.c.d/n")
        }
        var last: IPv4Address?
        if let text = book.lastAllocated {
            guard let address = IPv4Address(text) else {
                throw .invalidState("failed to load the address leases: last address '\(text)' is not IPv4")
            }
            last = address
        }
        var allocations: [IPAllocation] = []
        for lease in book.leases {
            guard let address = IPv4Address(lease.address), let mac = MACAddress(lease.mac) else {
                throw .invalidState(
                    "failed to load the address leases: the lease of \(lease.instance) (\(lease.address), \(lease.mac)) does not parse")
            }
            allocations.append(IPAllocation(instance: lease.instance, address: address, mac: mac))
        }
        self.init(
            version: Self.currentVersion, subnet: subnet, lastAllocated: last,
            allocations: allocations.sorted { $0.address < $1.address })
    }

    /// This state as the store keeps it.
    var book: AddressLeaseBook {
        AddressLeaseBook(
            subnet: subnet.description, lastAllocated: lastAllocated?.description,
            leases: allocations.map { AddressLease(instance: $0.instance, address: $0.address.description, mac: $0.mac.description) })
    }
}
