import CorralCore
import Foundation
import Testing

@testable import CorralNetwork

struct IPAMTests {
    private func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("corral-ipam-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func addressesAreUniqueAndAllocationIsIdempotent() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ipam = try IPAM(directory: directory)
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
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ipam = try IPAM(directory: directory)
        let addresses = try await withThrowingTaskGroup(of: IPv4Address.self) { group in
            for _ in 0..<40 {
                group.addTask { try ipam.allocate(for: UUID()).address }
            }
            return try await group.reduce(into: [IPv4Address]()) { $0.append($1) }
        }
        #expect(Set(addresses).count == 40)
    }

    @Test func leasesSurviveARestartAndAreSharedThroughTheDirectory() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let instance = UUID()
        let lease = try IPAM(directory: directory).allocate(for: instance)
        let reopened = try IPAM(directory: directory)
        #expect(try reopened.allocation(for: instance) == lease)
        #expect(try reopened.allocate(for: instance) == lease)
        let other = try IPAM(directory: directory).allocate(for: UUID())
        #expect(other.address != lease.address)
        #expect(try reopened.allocations().contains(other), "a second IPAM on the same directory sees the first's leases")
        let text = try String(contentsOfFile: "\(directory)/ipam.json", encoding: .utf8)
        #expect(text.contains(lease.address.description) && text.contains(lease.mac.description))
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/ipam.json.tmp"))
    }

    @Test func releasedAddressesAreFreedButNotReusedAtOnce() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ipam = try IPAM(directory: directory)
        let a = UUID()
        let leaseA = try ipam.allocate(for: a)
        #expect(try ipam.release(a) == leaseA)
        #expect(try ipam.release(a) == nil, "releasing twice is a no-op")
        #expect(try ipam.allocation(for: a) == nil)
        let leaseB = try ipam.allocate(for: UUID())
        #expect(leaseB.address != leaseA.address, "the search continues after the last lease")
        #expect(try IPAM(directory: directory).allocation(for: a) == nil, "the release is persisted")
    }

    @Test func aFullSubnetIsUnavailableAndWrapsAroundAfterARelease() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let subnet = try #require(IPv4Subnet("192.168.7.0/29"))
        let ipam = try IPAM(directory: directory, subnet: subnet)
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

    @Test func leasesOfAnotherSubnetAreRefusedAndTheFileKept() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let instance = UUID()
        _ = try IPAM(directory: directory).allocate(for: instance)
        let before = try String(contentsOfFile: "\(directory)/ipam.json", encoding: .utf8)
        let other = try #require(IPv4Subnet("10.99.0.0/16"))
        do {
            _ = try IPAM(directory: directory, subnet: other)
            Issue.record("a subnet change with leases must be refused")
        } catch {
            #expect(error.code == .invalidState)
            #expect(error.message.contains("10.88.0.0/16"))
        }
        #expect(try String(contentsOfFile: "\(directory)/ipam.json", encoding: .utf8) == before)
        try IPAM(directory: directory).release(instance)
        #expect(try IPAM(directory: directory, subnet: other).allocate(for: instance).address.description == "10.99.0.2")
    }

    @Test func anUndecodableFileIsRefusedAndLeftAsItIs() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "{ not json".write(toFile: "\(directory)/ipam.json", atomically: false, encoding: .utf8)
        #expect(throws: CorralError.self) { try IPAM(directory: directory) }
        #expect(try String(contentsOfFile: "\(directory)/ipam.json", encoding: .utf8) == "{ not json")
    }
}
