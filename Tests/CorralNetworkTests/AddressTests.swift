import Foundation
import Testing

@testable import CorralNetwork

struct AddressTests {
    @Test func ipv4ParsesStrictDottedQuadsOnly() {
        #expect(IPv4Address("10.88.0.2")?.value == 0x0A58_0002)
        #expect(IPv4Address("255.255.255.255")?.description == "255.255.255.255")
        for bad in ["10.88.0", "10.88.0.256", "010.1.1.1", "1.2.3.4.5", "a.b.c.d", "", "1..2.3", " 1.2.3.4", "+1.2.3.4"] {
            #expect(IPv4Address(bad) == nil, "\(bad) should not parse")
        }
    }

    @Test func subnetDerivesGatewayAndInstanceRange() throws {
        let subnet = try #require(IPv4Subnet("10.88.0.0/16"))
        #expect(subnet == .defaultInstanceSubnet)
        #expect(subnet.gateway.description == "10.88.0.1")
        #expect(subnet.broadcast.description == "10.88.255.255")
        #expect(IPv4Address(value: subnet.instanceAddresses.lowerBound).description == "10.88.0.2")
        #expect(IPv4Address(value: subnet.instanceAddresses.upperBound).description == "10.88.255.254")
        #expect(subnet.contains(try #require(IPv4Address("10.88.200.1"))))
        #expect(!subnet.contains(try #require(IPv4Address("10.89.0.1"))))
        #expect(IPv4Subnet("10.88.0.1/16") == nil, "host bits set")
        #expect(IPv4Subnet("10.88.0.0/31") == nil, "no room for an instance")
        #expect(IPv4Subnet("10.0.0.0/7") == nil)
        #expect(IPv4Subnet("10.88.0.0") == nil)
    }

    @Test func derivedMACIsStableLocallyAdministeredUnicast() throws {
        let instance = try #require(UUID(uuidString: "6F1C2E1A-0B7D-4C55-9A0E-5D7F3B2C1A00"))
        let mac = MACAddress.derived(from: instance)
        #expect(mac == MACAddress.derived(from: instance))
        #expect(mac != MACAddress.derived(from: instance, attempt: 1))
        #expect(mac.isLocallyAdministered && mac.isUnicast)
        #expect(MACAddress(mac.description) == mac)
        for _ in 0..<200 {
            let other = MACAddress.derived(from: UUID())
            #expect(other.isLocallyAdministered && other.isUnicast)
        }
        #expect(MACAddress("02:00:5E:10:00:0a")?.description == "02:00:5e:10:00:0a")
        #expect(MACAddress("02:00:5e:10:00") == nil)
    }

    @Test func instanceNamesFitInterfaceLimitsAndRoundTripTheAlias() throws {
        let instance = try #require(UUID(uuidString: "6F1C2E1A-0B7D-4C55-9A0E-5D7F3B2C1A00"))
        let names = InstanceNetworkNames(instance)
        #expect(names.hostInterface == "vc6f1c2e1a")
        #expect(names.namespaceName == "corral-6f1c2e1a0b7d")
        #expect(names.namespacePath == "/run/netns/corral-6f1c2e1a0b7d")
        #expect(names.hostInterface.count <= 15)
        #expect(InstanceNetworkNames.instance(fromAlias: names.alias) == instance)
        #expect(InstanceNetworkNames.instance(fromAlias: "something else") == nil)
        #expect(InstanceNetworkNames.interfaceID(of: instance) == InstanceNetworkNames.interfaceID(of: instance))
        #expect(InstanceNetworkNames.interfaceID(of: instance) != instance)
    }

    @Test func natRulesRecogniseOnlyTheirOwnTable() {
        let rules = NATRules(table: "corral", subnet: .defaultInstanceSubnet, bridge: "corral0")
        let listing = """
        {"nftables": [{"metainfo": {"version": "1.0.6"}}, {"table": {"family": "ip", "name": "corral", "handle": 3}},
        {"chain": {"family": "ip", "table": "corral", "name": "postrouting", "handle": 1, "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}},
        {"rule": {"family": "ip", "table": "corral", "chain": "postrouting", "handle": 2, "expr": [
        {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "10.88.0.0", "len": 16}}}},
        {"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "corral0"}}, {"masquerade": null}]}}]}
        """
        #expect(rules.matches(listing: listing))
        #expect(!NATRules(table: "corral", subnet: .defaultInstanceSubnet, bridge: "other0").matches(listing: listing))
        #expect(!NATRules(table: "corral", subnet: IPv4Subnet("10.99.0.0/16") ?? .defaultInstanceSubnet, bridge: "corral0").matches(listing: listing))
        #expect(!rules.matches(listing: "{}"))
        #expect(rules.script.contains("ip saddr 10.88.0.0/16 oifname != \"corral0\" masquerade"))
    }
}
