import CorralCore
import CorralHost
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The instance network of one host: a Linux bridge with the subnet's gateway
/// address, IPv4 forwarding, egress NAT through nftables, and per instance a
/// network namespace joined to the bridge by a veth pair.
///
/// Contract:
/// - Every operation runs on one dedicated thread, one at a time in call order,
///   inside `configuration.hostNamespacePath` (or the daemon's own namespace), so
///   two calls never interleave and none blocks the cooperative pool.
/// - Every operation is idempotent: it measures what exists, does what is missing,
///   and verifies the result. Repeating a call, or calling it again after a crash
///   part-way, is safe.
/// - A failed `attach` leaves nothing behind that it created (namespace, veth,
///   lease); what existed before the call is left as it was.
/// - Leases live in the state store (see `IPAM`), so an instance keeps its
///   address, MAC and names across daemon restarts until `detach`.
///
/// A fresh attach makes the namespace and veth over rtnetlink in-process (see
/// `Netlink`); the bridge, taps, NAT and the repair of an earlier attach use `ip`
/// (iproute2) and `nft` (nftables) as subprocesses. Needs root.
public final class BridgeNetwork: Sendable {
    public let configuration: BridgeConfiguration
    public let ipam: IPAM
    private let operations: BridgeOperations
    private let worker: NamespaceWorker

    /// Opens the leases in `leases` and starts the worker thread; touches no
    /// interface until the first operation. `legacyLeaseDirectory` may hold the
    /// `ipam.json` of an older Corral, imported once.
    ///
    /// Throws `invalidArgument` for an unusable configuration, and what `IPAM.init`
    /// throws.
    public init(
        configuration: BridgeConfiguration,
        leases: any AddressLeaseStore,
        legacyLeaseDirectory: String? = nil,
        logger: Logger = Logger(label: "corral.network")
    ) throws(CorralError) {
        if let problem = configuration.problem() {
            throw .invalidArgument("failed to configure the instance network: \(problem)")
        }
        self.configuration = configuration
        self.ipam = try IPAM(store: leases, subnet: configuration.subnet, legacyDirectory: legacyLeaseDirectory)
        self.operations = BridgeOperations(
            configuration: configuration,
            ipam: ipam,
            tools: NetworkTools(timeout: configuration.commandTimeout),
            logger: logger
        )
        self.worker = NamespaceWorker(name: "corral-network", namespacePath: configuration.hostNamespacePath)
    }

    deinit {
        worker.shutdown()
    }

    /// Why this host cannot run the instance network, or nil when it can: it needs
    /// root and the `ip` (iproute2) and `nft` (nftables) programs. Never throws.
    public static func unavailabilityReason() -> String? {
        if geteuid() != 0 { return "the instance network needs root (network namespaces, bridges, nftables)" }
        for (tool, package) in [("ip", "iproute2"), ("nft", "nftables")] where ExecutableLookup.resolve(tool) == nil {
            return "the instance network needs \(tool) (the \(package) package)"
        }
        return nil
    }

    /// Makes sure the bridge exists, is a bridge, holds the gateway address and is
    /// up, that IPv4 forwarding is on, and that Corral's NAT table is exactly the
    /// one it should be. Measures everything again on each call.
    ///
    /// Throws `conflict` when an interface of the bridge's name exists but is not a bridge.
    public func ensureBridge() async throws(CorralError) {
        let operations = self.operations
        try await worker.run { () throws(CorralError) in try operations.ensureBridge() }
    }

    /// Connects `instance` to the bridge and returns how; returns the same
    /// attachment when it is already connected, and completes a connection that
    /// was interrupted. Sets the bridge up first if needed.
    ///
    /// Throws `unavailable` when the subnet is exhausted, and `conflict` when a
    /// namespace or interface of the instance's names exists but belongs to
    /// something else.
    public func attach(_ instance: UUID) async throws(CorralError) -> NetworkAttachment {
        let operations = self.operations
        return try await worker.run { () throws(CorralError) in try operations.attach(instance) }
    }

    /// Connects a VM `instance` to the bridge through a persistent tap that QEMU
    /// opens by name, and returns how; returns the same attachment when it is
    /// already connected. The lease (address and MAC) is the same IPAM's as for
    /// namespaces; `detach` removes the tap and releases it.
    ///
    /// Throws `unavailable` when the subnet is exhausted, and `conflict` when an
    /// interface of the tap's name exists but belongs to something else.
    public func attachTap(_ instance: UUID) async throws(CorralError) -> TapAttachment {
        let operations = self.operations
        return try await worker.run { () throws(CorralError) in try operations.attachTap(instance) }
    }

    /// The tap attachment `instance` has by its lease, without checking the
    /// interfaces; nil when it holds no lease.
    public func tapAttachment(of instance: UUID) async throws(CorralError) -> TapAttachment? {
        let operations = self.operations
        return try await worker.run { () throws(CorralError) in
            try operations.ipam.allocation(for: instance).map(operations.tapAttachment)
        }
    }

    /// Disconnects `instance`: deletes its tap, or its veth pair and its namespace's name, then
    /// releases its lease. A no-op for an instance that is not attached. Call it once
    /// the instance's processes are gone: a namespace lives on while processes use it.
    public func detach(_ instance: UUID) async throws(CorralError) {
        let operations = self.operations
        try await worker.run { () throws(CorralError) in try operations.detach(instance) }
    }

    /// The attachment `instance` has by its lease, without checking the interfaces;
    /// nil when it holds no lease.
    public func attachment(of instance: UUID) async throws(CorralError) -> NetworkAttachment? {
        let operations = self.operations
        return try await worker.run { () throws(CorralError) in
            try operations.ipam.allocation(for: instance).map(operations.attachment)
        }
    }

    /// After a daemon restart: keeps (and repairs) the attachments of the instances
    /// in `liveInstances` (a namespace and veth) and `liveTaps` (a tap), and removes
    /// the namespaces, veths, taps and leases of every other instance this network
    /// knows, including veths and taps carrying Corral's alias without a lease.
    /// Individual failures are reported, not thrown.
    public func recover(liveInstances: Set<UUID>, liveTaps: Set<UUID> = []) async throws(CorralError) -> NetworkRecoveryReport {
        let operations = self.operations
        return try await worker.run { () throws(CorralError) in
            try operations.recover(liveInstances: liveInstances, liveTaps: liveTaps)
        }
    }

    /// Removes Corral's NAT table and the bridge. IPv4 forwarding is left as it is,
    /// since other software may rely on it.
    ///
    /// Throws `invalidState` while any instance still holds a lease.
    public func teardown() async throws(CorralError) {
        let operations = self.operations
        try await worker.run { () throws(CorralError) in try operations.teardown() }
    }

    /// Lets queued operations finish, then stops the worker thread; later calls
    /// throw `unavailable`. Idempotent.
    public func shutdown() {
        worker.shutdown()
    }
}
