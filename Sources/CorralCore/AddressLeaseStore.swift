import struct Foundation.UUID

/// One instance's lease on an address of the instance network.
public struct AddressLease: Sendable, Hashable {
    public var instance: UUID
    /// Dotted IPv4.
    public var address: String
    /// `xx:xx:xx:xx:xx:xx`, lowercase.
    public var mac: String

    public init(instance: UUID, address: String, mac: String) {
        self.instance = instance
        self.address = address
        self.mac = mac
    }
}

/// Every lease of the instance network, and where the next search for a free
/// address starts.
public struct AddressLeaseBook: Sendable, Equatable {
    /// The subnet the leases belong to, `a.b.c.d/n`.
    public var subnet: String
    /// The most recently leased address; the next search starts after it.
    public var lastAllocated: String?
    public var leases: [AddressLease]

    public init(subnet: String, lastAllocated: String? = nil, leases: [AddressLease] = []) {
        self.subnet = subnet
        self.lastAllocated = lastAllocated
        self.leases = leases
    }
}

/// Where the instance network's address leases are kept: the state store, so that
/// they survive restarts beside the instances they belong to.
public protocol AddressLeaseStore: Sendable {
    /// Runs `body` on the lease book (nil before the first lease was ever written) in
    /// one exclusive transaction. What `body` leaves is durable when the call
    /// returns; when `body` throws, nothing changes. The store enforces that no
    /// address and no MAC is leased twice (`conflict`).
    ///
    /// Blocks on disk I/O: call it off the Swift cooperative pool.
    func updateAddressLeases<R: Sendable>(
        _ body: (inout AddressLeaseBook?) throws(CorralError) -> R
    ) throws(CorralError) -> R
}
