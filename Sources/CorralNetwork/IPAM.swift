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
/// - A lease lasts until `release(_:)`, across restarts: every change is written to
///   `<directory>/ipam.json` (temporary file, fsync, rename, fsync of the directory)
///   before the call returns, under an exclusive `flock` of `<directory>/ipam.lock`,
///   so two processes sharing the directory see one consistent set of leases.
/// - Each lease carries a MAC address derived from the instance's UUID
///   (`MACAddress.derived(from:)`), unique among the leases.
///
/// Calls do blocking file I/O (including fsync) and should run off the Swift
/// cooperative pool; `BridgeNetwork` calls them from its own thread.
public final class IPAM: Sendable {
    public static let stateFileName = "ipam.json"
    static let lockFileName = "ipam.lock"

    public let subnet: IPv4Subnet
    public let directory: String
    private let lockTimeout: Duration
    private let serial = Mutex(())

    /// Opens (or starts) the leases kept in `directory`, which is created if missing.
    ///
    /// Throws `invalidState` when the file holds leases of another subnet or is
    /// inconsistent, and `internal` when it cannot be read or decoded; in both cases
    /// the file is left as it is, for an operator to inspect.
    public init(
        directory: String,
        subnet: IPv4Subnet = .defaultInstanceSubnet,
        lockTimeout: Duration = .seconds(5)
    ) throws(CorralError) {
        self.directory = directory
        self.subnet = subnet
        self.lockTimeout = lockTimeout
        do {
            try FileSystem.makeDirectories(directory, mode: 0o700)
        } catch {
            throw .internal("failed to create IPAM directory \(directory)", cause: error)
        }
        _ = try transaction { _ throws(CorralError) in () }
    }

    public var stateFilePath: String { "\(directory)/\(Self.stateFileName)" }

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

    /// Runs `body` on the current state under the in-process and the file lock, and
    /// persists the state if `body` changed it.
    private func transaction<R: Sendable>(
        _ body: (inout IPAMState) throws(CorralError) -> R
    ) throws(CorralError) -> R {
        try serial.withLock { (_: inout Void) throws(CorralError) -> R in
            let lock = try DurableFile.lockExclusively("\(directory)/\(Self.lockFileName)", timeout: lockTimeout)
            defer { close(lock) }
            var state = try load()
            let before = state
            let result = try body(&state)
            if state != before { try store(state) }
            return result
        }
    }

    private func load() throws(CorralError) -> IPAMState {
        let path = stateFilePath
        let text: String?
        do {
            text = try FileSystem.readText(path)
        } catch {
            throw .internal("failed to read IPAM state \(path)", cause: error)
        }
        guard let text else { return .empty(subnet) }
        var state: IPAMState
        do {
            state = try JSONDecoder().decode(IPAMState.self, from: Data(text.utf8))
        } catch {
            throw .internal("failed to decode IPAM state \(path) (left as it is)", cause: error)
        }
        if let reason = state.inconsistency() {
            throw .invalidState("failed to load IPAM state \(path) (left as it is): \(reason)")
        }
        if state.subnet != subnet {
            guard state.allocations.isEmpty else {
                throw .invalidState(
                    "failed to load IPAM state \(path): it leases \(state.allocations.count) addresses of "
                        + "\(state.subnet), but the configured subnet is \(subnet); release them or keep the subnet"
                )
            }
            state = .empty(subnet)
        }
        return state
    }

    private func store(_ state: IPAMState) throws(CorralError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data: Data
        do {
            data = try encoder.encode(state)
        } catch {
            throw .internal("failed to encode IPAM state", cause: error)
        }
        try DurableFile.replace(stateFilePath, with: Array(data) + [0x0A])
    }
}
