import CorralCore
import CorralHost
import Foundation
import Testing

@testable import CorralNetwork

/// Taps for VM instances, built inside a network namespace the test creates.
@Suite(.serialized, .enabled(if: NetworkTestEnvironment.available, "needs root, ip, nft and busybox"))
struct BridgeTapTests {
    @Test func attachTapMakesAnUpBridgePortAndDetachRemovesItAndTheLease() async throws {
        try await NetworkTestBed.run { bed in
            let network = try bed.network()
            defer { network.shutdown() }
            let instance = UUID()
            let names = InstanceNetworkNames(instance)
            let attachment = try await network.attachTap(instance)
            #expect(attachment.tap == names.tap && attachment.tap.hasPrefix("vt") && attachment.tap.count == 10)
            #expect(attachment.gateway == network.configuration.subnet.gateway)
            let tap = try #require(try await NetworkTools(timeout: .seconds(10)).linksVia(bed).first { $0.ifname == names.tap })
            #expect(tap.kind == "tun" && tap.master == "corral0" && tap.isUp && tap.ifalias == names.alias)

            let again = try await network.attachTap(instance)
            #expect(again == attachment, "attaching twice returns the same lease and tap")
            #expect(try await network.tapAttachment(of: instance) == attachment)

            try await network.detach(instance)
            #expect(try await NetworkTools(timeout: .seconds(10)).linksVia(bed).first { $0.ifname == names.tap } == nil)
            #expect(try network.ipam.allocation(for: instance) == nil)
            try await network.detach(instance)
            try await network.teardown()
        }
    }

    @Test func recoverKeepsLiveTapsAndRemovesDeadAndOrphanedOnes() async throws {
        try await NetworkTestBed.run { bed in
            let live = UUID(), gone = UUID(), orphan = UUID()
            let before: TapAttachment
            do {
                let network = try bed.network()
                before = try await network.attachTap(live)
                _ = try await network.attachTap(gone)
                network.shutdown()
            }
            // A tap left by a crash before its lease was written.
            let orphanNames = InstanceNetworkNames(orphan)
            try await bed.shell("ip", "-n", bed.name, "tuntap", "add", "dev", orphanNames.tap, "mode", "tap")
            try await bed.shell("ip", "-n", bed.name, "link", "set", "dev", orphanNames.tap, "alias", orphanNames.alias)

            let restarted = try bed.network()
            defer { restarted.shutdown() }
            let report = try await restarted.recover(liveInstances: [], liveTaps: [live])
            #expect(report.failures.isEmpty)
            #expect(report.keptTaps == [before])
            #expect(report.kept.isEmpty, "a VM's lease never gets a namespace and veth")
            #expect(report.released == [gone])
            #expect(report.orphansRemoved == [orphanNames.tap])
            let taps = try await NetworkTools(timeout: .seconds(10)).linksVia(bed, kind: "tun").map(\.ifname)
            #expect(taps == [before.tap])
            #expect(!bed.namespaceExists(InstanceNetworkNames(live).namespaceName))

            try await restarted.detach(live)
            try await restarted.teardown()
        }
    }
}
