import CorralCore
import CorralStore
import Foundation
import Testing

@testable import CorralNetwork

/// IPAM over a real state store (SQLite in a temporary directory), reopened where
/// a test needs what a restarted daemon sees.
struct IPAMTests {
    /// A state directory removed when the test ends, and the store open on it.
    private final class StateDirectory {
        let path: String
        private(set) var store: SQLiteStateStore

        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("corral-ipam-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            store = try SQLiteStateStore(directory: path)
        }

        /// Closes the store and opens it again, as a daemon restart does.
        func reopen() throws -> SQLiteStateStore {
            try store.close()
            store = try SQLiteStateStore(directory: path)
            return store
        }

        deinit {
            try? store.close()
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    @Test func addressesAreUniqueAndAllocationIsIdempotent() throws {
        let state = try StateDirectory()
        let ipam = try IPAM(store: state.store)
        let instances = (0..<50).map { _ in UUID() }
        let first = try instances.map { try ipam.allocate(for: $0) }
        #expect(Set(first.map(\.address)).count == 50)
        #expect(Set(first.map(\.mac)).count == 50)
        #expect(first.first?.address.description == "10.88.0.2", "the gateway .1 is never leased")
        #expect(!first.contains { $0.address == ipam.subnet.gateway })
        let again = try instances.map { try ipam.allocate(for: $0) }
        #expect(again == first)
        #expect(try ipam.allocations().count == 50)
    }

    @Test func concurrentAllocationsNeverShareAnAddress() async throws {
        let state = try StateDirectory()
        let ipam = try IPAM(store: state.store)
        let addresses = try await withThrowingTaskGroup(of: IPv4Address.self) { group in
            for _ in 0..<40 {
                group.addTask { try ipam.allocate(for: UUID()).address }
            }
            return try await group.reduce(into: [IPv4Address]()) { $0.append($1) }
        }
        #expect(Set(addresses).count == 40)
    }

    @Test func leasesSurviveARestartOfTheStore() throws {
        let state = try StateDirectory()
        let instance = UUID()
        let lease = try IPAM(store: state.store).allocate(for: instance)
        let reopened = try IPAM(store: try state.reopen())
        #expect(try reopened.allocation(for: instance) == lease)
        #expect(try reopened.allocate(for: instance) == lease)
        let other = try reopened.allocate(for: UUID())
        #expect(other.address != lease.address)
        #expect(try IPAM(store: try state.reopen()).allocations() == [lease, other].sorted { $0.address < $1.address })
    }

    @Test func theStoreRefusesAnAddressLeasedTwice() throws {
        let state = try StateDirectory()
        let lease = try IPAM(store: state.store).allocate(for: UUID())
        #expect(throws: CorralError.self) {
            try state.store.updateAddressLeases { (book) throws(CorralError) in
                book?.leases.append(AddressLease(instance: UUID(), address: lease.address.description, mac: "02:00:00:00:00:01"))
            }
        }
        #expect(try IPAM(store: state.store).allocations() == [lease], "the failed transaction changed nothing")
    }

    @Test func releasedAddressesAreFreedButNotReusedAtOnce() throws {
        let state = try StateDirectory()
        let ipam = try IPAM(store: state.store)
        let a = UUID()
        let leaseA = try ipam.allocate(for: a)
        #expect(try ipam.release(a) == leaseA)
        #expect(try ipam.release(a) == nil, "releasing twice is a no-op")
        #expect(try ipam.allocation(for: a) == nil)
        let leaseB = try ipam.allocate(for: UUID())
        #expect(leaseB.address != leaseA.address, "the search continues after the last lease")
        #expect(try IPAM(store: try state.reopen()).allocation(for: a) == nil, "the release is persisted")
    }

    @Test func aFullSubnetIsUnavailableAndWrapsAroundAfterARelease() throws {
        let state = try StateDirectory()
        let subnet = try #require(IPv4Subnet("192.168.7.0/29"))
        let ipam = try IPAM(store: state.store, subnet: subnet)
        let instances = (0..<5).map { _ in UUID() }
        let leases = try instances.map { try ipam.allocate(for: $0) }
        #expect(leases.map(\.address.description) == (2...6).map { "192.168.7.\($0)" })
        #expect(throws: CorralError.self) { try ipam.allocate(for: UUID()) }
        do {
            _ = try ipam.allocate(for: UUID())
        } catch {
            #expect(error.code == .unavailable)
        }
        try ipam.release(instances[1])
        #expect(try ipam.allocate(for: UUID()).address.description == "192.168.7.3")
    }

    @Test func leasesOfAnotherSubnetAreRefusedAndKept() throws {
        let state = try StateDirectory()
        let instance = UUID()
        let lease = try IPAM(store: state.store).allocate(for: instance)
        let other = try #require(IPv4Subnet("10.99.0.0/16"))
        do {
            _ = try IPAM(store: state.store, subnet: other)
            Issue.record("a subnet change with leases must be refused")
        } catch {
            #expect(error.code == .invalidState)
            #expect(error.message.contains("10.88.0.0/16"))
        }
        #expect(try IPAM(store: state.store).allocations() == [lease])
        try IPAM(store: state.store).release(instance)
        #expect(try IPAM(store: state.store, subnet: other).allocate(for: instance).address.description == "10.99.0.2")
    }

    @Test func theLeasesOfAnOlderCorralsFileAreImportedOnce() throws {
        let state = try StateDirectory()
        let legacy = "\(state.path)/network"
        try FileManager.default.createDirectory(atPath: legacy, withIntermediateDirectories: true)
        let instance = UUID()
        let json = """
            {"version": 1, "subnet": "10.88.0.0/16", "lastAllocated": "10.88.0.7",
             "allocations": [{"instance": "\(instance.uuidString)", "address": "10.88.0.7", "mac": "02:42:0a:58:00:07"}]}
            """
        try json.write(toFile: "\(legacy)/ipam.json", atomically: false, encoding: .utf8)
        let ipam = try IPAM(store: state.store, legacyDirectory: legacy)
        #expect(try ipam.allocation(for: instance)?.address.description == "10.88.0.7")
        #expect(try ipam.allocate(for: UUID()).address.description == "10.88.0.8", "the search goes on after the imported cursor")
        #expect(!FileManager.default.fileExists(atPath: "\(legacy)/ipam.json"))
        #expect(FileManager.default.fileExists(atPath: "\(legacy)/ipam.json.imported"))
        #expect(try IPAM(store: try state.reopen(), legacyDirectory: legacy).allocations().count == 2)
    }

    @Test func anUndecodableLegacyFileIsRefusedAndLeftAsItIs() throws {
        let state = try StateDirectory()
        try "{ not json".write(toFile: "\(state.path)/ipam.json", atomically: false, encoding: .utf8)
        #expect(throws: CorralError.self) { try IPAM(store: state.store, legacyDirectory: state.path) }
        #expect(try String(contentsOfFile: "\(state.path)/ipam.json", encoding: .utf8) == "{ not json")
    }
}
