import CorralCore
import CorralHost
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Leases IPv4 addresses of one subnet to instances, and remembers the leases
/// across restarts.
///
/// Contract:
/// - An address is leased to at most one instance at a time; the gateway, the
///   network and the broadcast address are never leased.
/// - Leasing is idempotent per instance: `allocate(for:)` for an instance that
///   holds a lease returns that lease.
/// - A lease lasts until `release(_:)`, across restarts: every change is a
///   transaction of the state store (`AddressLeaseStore`), durable before the call
///   returns; the store refuses an address or MAC leased twice.
/// - Each lease carries a MAC address derived from the instance's UUID
///   (`MACAddress.derived(from:)`), unique among the leases.
///
/// Calls do blocking I/O (the store's fsync) and should run off the Swift
/// cooperative pool; `BridgeNetwork` calls them from its own thread.
public final class IPAM: Sendable {
    /// Where Corral kept the leases before they moved into the state store.
    public static let legacyStateFileName = "ipam.json"

    public let subnet: IPv4Subnet
    private let store: any AddressLeaseStore
    private let serial = Mutex(())

    /// Opens the leases kept in `store`. A `legacyDirectory` holding an `ipam.json`
    /// of an older Corral is imported once (when the store has no leases yet) and
    /// renamed `ipam.json.imported`.
    ///
    /// Throws `invalidState` when the store (or the legacy file) holds leases of
    /// another subnet or is inconsistent, and `internal` when the legacy file
    /// cannot be read or decoded; the data is left as it is, for an operator.
    public init(
        store: any AddressLeaseStore,
        subnet: IPv4Subnet = .defaultInstanceSubnet,
        legacyDirectory: String? = nil
    ) throws(CorralError) {
        self.store = store
        self.subnet = subnet
        if let legacyDirectory { try importLegacyFile("\(legacyDirectory)/\(Self.legacyStateFileName)") }
        _ = try transaction { _ throws(CorralError) in () }
    }

    /// The lease of `instance`, made now if it has none.
    ///
    /// Throws `unavailable` when every instance address of the subnet is leased.
    public func allocate(for instance: UUID) throws(CorralError) -> IPAllocation {
        try reserve(for: instance).allocation
    }

    /// Like `allocate(for:)`, and says whether this call made the lease.
    func reserve(for instance: UUID) throws(CorralError) -> (allocation: IPAllocation, created: Bool) {
        try transaction { state throws(CorralError) in
            if let existing = state.allocations.first(where: { $0.instance == instance }) {
                return (existing, false)
            }
            let address = try nextFreeAddress(in: state, for: instance)
            let usedMACs = Set(state.allocations.map(\.mac))
            var mac = MACAddress.derived(from: instance)
            var attempt = 0
            while usedMACs.contains(mac) {
                attempt += 1
                // Each attempt collides with probability leases/2^46; this many means a bug.
                guard attempt < 64 else {
                    throw .internal("failed to allocate a MAC address for instance \(instance): \(attempt) collisions")
                }
                mac = MACAddress.derived(from: instance, attempt: attempt)
            }
            let allocation = IPAllocation(instance: instance, address: address, mac: mac)
            state.allocations.append(allocation)
            state.allocations.sort { $0.address < $1.address }
            state.lastAllocated = address
            return (allocation, true)
        }
    }

    /// Ends the lease of `instance` and returns it; nil (and no change) when it has none.
    @discardableResult
    public func release(_ instance: UUID) throws(CorralError) -> IPAllocation? {
        try transaction { state throws(CorralError) in
            guard let index = state.allocations.firstIndex(where: { $0.instance == instance }) else { return nil }
            return state.allocations.remove(at: index)
        }
    }

    /// The lease of `instance`, or nil.
    public func allocation(for instance: UUID) throws(CorralError) -> IPAllocation? {
        try transaction { state throws(CorralError) in state.allocations.first { $0.instance == instance } }
    }

    /// Every lease, in address order.
    public func allocations() throws(CorralError) -> [IPAllocation] {
        try transaction { state throws(CorralError) in state.allocations }
    }

    private func nextFreeAddress(in state: IPAMState, for instance: UUID) throws(CorralError) -> IPv4Address {
        let range = subnet.instanceAddresses
        let count = UInt64(range.upperBound - range.lowerBound) + 1
        let used = Set(state.allocations.map(\.address.value))
        var start = range.lowerBound
        if let last = state.lastAllocated?.value, last < range.upperBound, last >= range.lowerBound {
            start = last + 1
        }
        let offset = UInt64(start - range.lowerBound)
        for step in 0..<count {
            let candidate = range.lowerBound + UInt32((offset + step) % count)
            if !used.contains(candidate) { return IPv4Address(value: candidate) }
        }
        throw .unavailable("failed to allocate an address for instance \(instance): every address of \(subnet) is leased")
    }

    /// Runs `body` on the current state in one store transaction (serialised in
    /// process too); the store writes the state back if `body` changed it.
    private func transaction<R: Sendable>(
        _ body: (inout IPAMState) throws(CorralError) -> R
    ) throws(CorralError) -> R {
        let subnet = self.subnet
        return try serial.withLock { (_: inout Void) throws(CorralError) -> R in
            try store.updateAddressLeases { (book) throws(CorralError) -> R in
                var state = try Self.state(of: book, subnet: subnet)
                let before = state
                let result = try body(&state)
                if state != before { book = state.book }
                return result
            }
        }
    }

    /// The book as a state of `subnet`: empty when there is none, or when it is of
    /// another subnet and holds no lease.
    private static func state(of book: AddressLeaseBook?, subnet: IPv4Subnet) throws(CorralError) -> IPAMState {
        guard let book else { return .empty(subnet) }
        var state = try IPAMState(book: book)
        if let reason = state.inconsistency() {
            throw .invalidState("failed to load the address leases (left as they are): \(reason)")
        }
        if state.subnet != subnet {
            guard state.allocations.isEmpty else {
                throw .invalidState(
                    "failed to load the address leases: \(state.allocations.count) addresses of \(state.subnet) "
                        + "are leased, but the configured subnet is \(subnet); release them or keep the subnet"
                )
            }
            state = .empty(subnet)
        }
        return state
    }

    /// Moves the leases of an older Corral's `ipam.json` into the store, once.
    private func importLegacyFile(_ path: String) throws(CorralError) {
        let text: String?
        do {
            text = try FileSystem.readText(path)
        } catch {
            throw .internal("failed to read legacy IPAM state \(path)", cause: error)
        }
        guard let text else { return }
        let legacy: IPAMState
        do {
            legacy = try JSONDecoder().decode(IPAMState.self, from: Data(text.utf8))
        } catch {
            throw .internal("failed to decode legacy IPAM state \(path) (left as it is)", cause: error)
        }
        if let reason = legacy.inconsistency() {
            throw .invalidState("failed to import legacy IPAM state \(path) (left as it is): \(reason)")
        }
        try serial.withLock { (_: inout Void) throws(CorralError) in
            try store.updateAddressLeases { (book) throws(CorralError) in
                if let book, !book.leases.isEmpty {
                    // Imported before, and the rename did not happen.
                    if book == legacy.book { return }
                    throw .invalidState(
                        "failed to import legacy IPAM state \(path): the state store holds leases already; "
                            + "remove one of the two after checking them")
                }
                book = legacy.book
            }
        }
        if rename(path, path + ".imported") != 0 {
            throw .internal("failed to set aside imported IPAM state \(path): \(String(cString: strerror(errno)))")
        }
    }
}
