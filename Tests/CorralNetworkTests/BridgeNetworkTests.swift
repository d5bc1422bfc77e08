import CorralCore
import CorralHost
import Foundation
import Testing

@testable import CorralNetwork

/// Everything here runs inside a network namespace the test creates (see
/// `NetworkTestBed`); the host's own interfaces, routes and firewall are never touched.
@Suite(.serialized, .enabled(if: NetworkTestEnvironment.available, "needs root, ip, nft and busybox"))
struct BridgeNetworkTests {
    private static let hostForwarding = "/proc/sys/net/ipv4/ip_forward"

    @Test func twoInstancesReachEachOtherAndAPublishedPortAnswers() async throws {
        let hostForwardingBefore = try String(contentsOfFile: Self.hostForwarding, encoding: .utf8)
        try await NetworkTestBed.run { bed in
            let network = try bed.network()
            defer { network.shutdown() }
            let a = UUID()
            let b = UUID()
            bed.track(a)
            bed.track(b)

            let clock = ContinuousClock()
            let start = clock.now
            let attachmentA = try await network.attach(a)
            let firstAttach = clock.now - start
            let secondStart = clock.now
            let attachmentB = try await network.attach(b)
            let secondAttach = clock.now - secondStart
            print("attach with bridge setup: \(firstAttach), attach: \(secondAttach)")

            #expect(attachmentA.ip != attachmentB.ip)
            #expect(attachmentA.gateway.description == "10.88.0.1")
            #expect(attachmentA.prefixLength == 16)
            #expect(attachmentA.mac.isLocallyAdministered && attachmentA.mac.isUnicast)
            #expect(bed.namespaceExists(InstanceNetworkNames(a).namespaceName))
            // Again with its lease kept: `ip` reads back and verifies what the first
            // attach made over netlink (bridge port, alias, MAC, address, loopback, route).
            #expect(try await network.attach(a) == attachmentA, "attach is idempotent")
            #expect(try await network.attachment(of: b) == attachmentB)
            #expect(try await bed.veths().sorted() == [attachmentA.hostInterface, attachmentB.hostInterface].sorted())

            let site = try bed.site("hello from \(a)")
            try bed.startInNamespace(
                InstanceNetworkNames(a).namespaceName,
                ["busybox", "httpd", "-f", "-p", "0.0.0.0:8080", "-h", site]
            )
            let fromB = try await bed.fetch("http://\(attachmentA.ip):8080/", from: InstanceNetworkNames(b).namespaceName)
            #expect(fromB == "hello from \(a)")

            let publisher = PortPublisher(namespacePath: bed.path)
            do {
                let target = PortTarget(address: attachmentA.ip, port: 8080)
                let published = try await publisher.publish(a, hostPort: 18080, target: target)
                #expect(published.hostPort == 18080)
                #expect(try await publisher.publish(a, hostPort: 18080, target: target) == published, "publish is idempotent")
                let fromLoopback = try await bed.fetch("http://127.0.0.1:18080/", from: bed.name)
                #expect(fromLoopback == "hello from \(a)")

                await #expect {
                    try await publisher.publish(b, hostPort: 18080, target: PortTarget(address: attachmentB.ip, port: 8080))
                } throws: { error in
                    guard let error = error as? CorralError else { return false }
                    return error.code == .conflict && error.message.contains("127.0.0.1:18080")
                }
                let other = PortPublisher(namespacePath: bed.path)
                await #expect {
                    try await other.publish(b, hostPort: 18080, target: PortTarget(address: attachmentB.ip, port: 8080))
                } throws: { error in
                    guard let error = error as? CorralError else { return false }
                    return error.code == .conflict && error.message.contains("127.0.0.1:18080")
                        && error.message.contains("in use")
                }
                await other.shutdown()

                await publisher.unpublish(a)
                await publisher.unpublish(a)
                #expect(publisher.publications().isEmpty)
                #expect(await !bed.canFetch("http://127.0.0.1:18080/", from: bed.name))
            }
            await publisher.shutdown()

            try await network.detach(a)
            try await network.detach(b)
            try await network.detach(a)
            #expect(try await bed.veths().isEmpty)
            #expect(!bed.namespaceExists(InstanceNetworkNames(a).namespaceName))
            #expect(!bed.namespaceExists(InstanceNetworkNames(b).namespaceName))
            #expect(try network.ipam.allocations().isEmpty)
            #expect(try await network.attachment(of: a) == nil)
            let addresses = try await bed.shell("ip", "-n", bed.name, "-o", "-4", "address", "show")
            #expect(!addresses.contains(attachmentA.ip.description) && !addresses.contains(attachmentB.ip.description))

            try await network.teardown()
            #expect(try await bed.run("ip", ["netns", "exec", bed.name, "nft", "list", "table", "ip", "corral"]).succeeded == false)
            #expect(try await bed.run("ip", ["-n", bed.name, "link", "show", "dev", "corral0"]).succeeded == false)
        }
        let hostForwardingAfter = try String(contentsOfFile: Self.hostForwarding, encoding: .utf8)
        #expect(hostForwardingAfter == hostForwardingBefore, "the host's own forwarding setting is untouched")
    }

    @Test func natTableIsCreatedIdempotentlyAndMasqueradesEgress() async throws {
        try await NetworkTestBed.run { bed in
            let network = try bed.network()
            defer { network.shutdown() }
            try await network.ensureBridge()
            try await network.ensureBridge()
            let listing = try await bed.shell("ip", "netns", "exec", bed.name, "nft", "-j", "list", "table", "ip", "corral")
            #expect(NATRules(table: "corral", subnet: .defaultInstanceSubnet, bridge: "corral0").matches(listing: listing))
            #expect(listing.components(separatedBy: "\"rule\"").count - 1 == 1, "one rule after two calls")
            #expect(try await bed.shell("ip", "netns", "exec", bed.name, "cat", "/proc/sys/net/ipv4/ip_forward")
                .trimmingCharacters(in: .whitespacesAndNewlines) == "1")

            // An upstream namespace with no route back to the instance subnet: replies
            // reach an instance only if its traffic was masqueraded.
            let upstream = "\(bed.name)-up"
            bed.track(namespace: upstream)
            try await bed.shell("ip", "netns", "add", upstream)
            try await bed.shell("ip", "-n", bed.name, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", upstream)
            try await bed.shell("ip", "-n", bed.name, "address", "add", "10.99.0.1/24", "dev", "up0")
            try await bed.shell("ip", "-n", bed.name, "link", "set", "up0", "up")
            try await bed.shell("ip", "-n", upstream, "address", "add", "10.99.0.2/24", "dev", "eth0")
            try await bed.shell("ip", "-n", upstream, "link", "set", "eth0", "up")
            try await bed.shell("ip", "-n", upstream, "link", "set", "lo", "up")
            let site = try bed.site("upstream")
            try bed.startInNamespace(upstream, ["busybox", "httpd", "-f", "-p", "10.99.0.2:8081", "-h", site])

            let instance = UUID()
            bed.track(instance)
            _ = try await network.attach(instance)
            let namespace = InstanceNetworkNames(instance).namespaceName
            #expect(try await bed.fetch("http://10.99.0.2:8081/", from: namespace) == "upstream")

            try await bed.shell("ip", "netns", "exec", bed.name, "nft", "delete", "table", "ip", "corral")
            #expect(await !bed.canFetch("http://10.99.0.2:8081/", from: namespace), "without NAT there is no way back")
            try await network.ensureBridge()
            #expect(try await bed.fetch("http://10.99.0.2:8081/", from: namespace) == "upstream")

            try await network.detach(instance)
            try await network.teardown()
            #expect(try await bed.run("ip", ["netns", "exec", bed.name, "nft", "list", "table", "ip", "corral"]).succeeded == false)
        }
    }

    @Test func aFailedAttachLeavesNothingBehind() async throws {
        try await NetworkTestBed.run { bed in
            let network = try bed.network()
            defer { network.shutdown() }
            let instance = UUID()
            bed.track(instance)
            let names = InstanceNetworkNames(instance)
            // Someone else's interface under the instance's host interface name.
            try await bed.shell("ip", "-n", bed.name, "link", "add", names.hostInterface, "type", "veth", "peer", "name", "stranger0")
            await #expect {
                try await network.attach(instance)
            } throws: { error in
                (error as? CorralError)?.code == .conflict
            }
            #expect(!bed.namespaceExists(names.namespaceName), "the namespace made by the failed attach is gone")
            #expect(try network.ipam.allocation(for: instance) == nil, "its lease is released")
            let stranger = try await NetworkTools(timeout: .seconds(10)).linksVia(bed).first { $0.ifname == names.hostInterface }
            #expect(stranger != nil && stranger?.ifalias == nil, "what existed before is left alone")

            try await bed.shell("ip", "-n", bed.name, "link", "delete", names.hostInterface)
            let attachment = try await network.attach(instance)
            #expect(bed.namespaceExists(names.namespaceName))
            try await network.detach(instance)
            #expect(!bed.namespaceExists(names.namespaceName))
            #expect(try network.ipam.allocation(for: attachment.instance) == nil)
        }
    }

    @Test func aBridgeNameTakenByAnotherKindOfInterfaceIsAConflict() async throws {
        try await NetworkTestBed.run { bed in
            try await bed.shell("ip", "-n", bed.name, "link", "add", "corral0", "type", "veth", "peer", "name", "stranger0")
            let network = try bed.network()
            defer { network.shutdown() }
            await #expect {
                try await network.ensureBridge()
            } throws: { error in
                guard let error = error as? CorralError else { return false }
                return error.code == .conflict && error.message.contains("veth")
            }
        }
    }

    @Test func recoverKeepsLiveInstancesAndRemovesEverythingElse() async throws {
        try await NetworkTestBed.run { bed in
            let live = UUID()
            let gone = UUID()
            let alsoGone = UUID()
            let orphan = UUID()
            for id in [live, gone, alsoGone, orphan] { bed.track(id) }
            let before: NetworkAttachment
            do {
                let network = try bed.network()
                before = try await network.attach(live)
                _ = try await network.attach(gone)
                _ = try await network.attach(alsoGone)
                network.shutdown()
            }
            // A veth and namespace left by a crash before the lease was written.
            let orphanNames = InstanceNetworkNames(orphan)
            try await bed.shell("ip", "netns", "add", orphanNames.namespaceName)
            try await bed.shell(
                "ip", "-n", bed.name, "link", "add", orphanNames.hostInterface, "type", "veth",
                "peer", "name", "eth0", "netns", orphanNames.namespacePath
            )
            try await bed.shell("ip", "-n", bed.name, "link", "set", "dev", orphanNames.hostInterface, "alias", orphanNames.alias)
            // A live instance whose veth went missing is repaired.
            try await bed.shell("ip", "-n", bed.name, "link", "delete", before.hostInterface)

            let restarted = try bed.network()
            defer { restarted.shutdown() }
            let report = try await restarted.recover(liveInstances: [live])
            #expect(report.failures.isEmpty)
            #expect(report.kept == [before], "the live instance keeps its address, MAC and names")
            #expect(Set(report.released) == [gone, alsoGone])
            #expect(report.orphansRemoved == [orphanNames.hostInterface])
            #expect(try await bed.veths() == [before.hostInterface])
            for id in [gone, alsoGone, orphan] {
                #expect(!bed.namespaceExists(InstanceNetworkNames(id).namespaceName))
            }
            #expect(try restarted.ipam.allocations().map(\.instance) == [live])
            let eth0 = try await bed.shell("ip", "-n", InstanceNetworkNames(live).namespaceName, "-o", "-4", "address", "show", "dev", "eth0")
            #expect(eth0.contains("\(before.ip)/16"))

            let again = try await restarted.recover(liveInstances: [live])
            #expect(again.kept == [before] && again.released.isEmpty && again.orphansRemoved.isEmpty)

            try await restarted.detach(live)
            try await restarted.teardown()
        }
    }

    @Test func repeatedAttachAndDetachLeaveNoVeth() async throws {
        try await NetworkTestBed.run { bed in
            let network = try bed.network()
            defer { network.shutdown() }
            try await network.ensureBridge()
            let clock = ContinuousClock()
            var attaches: [Duration] = []
            var detaches: [Duration] = []
            for _ in 0..<10 {
                let id = UUID()
                bed.track(id)
                let start = clock.now
                _ = try await network.attach(id)
                let attached = clock.now
                try await network.detach(id)
                attaches.append(attached - start)
                detaches.append(clock.now - attached)
            }
            attaches.sort()
            detaches.sort()
            print("attach p50 \(attaches[5]) max \(attaches[9]); detach p50 \(detaches[5]) max \(detaches[9])")
            #expect(try await bed.veths().isEmpty)
            try await network.teardown()
        }
    }
}
