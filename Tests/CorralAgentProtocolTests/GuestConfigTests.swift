import Testing

@testable import CorralAgentProtocol

@Suite struct GuestConfigTests {
    let config = GuestConfig(
        workload: WorkloadSpec(argv: ["/bin/app"], environment: ["K=v"]), uid: 7, gid: 8, groups: [9],
        hostname: "h", network: GuestNetwork(mac: "52:54:00:00:00:01", address: "10.0.0.2", prefixLength: 24))

    private func decode(_ payload: [UInt8]) throws(AgentProtocolError) -> AgentMessage {
        try AgentMessage(frame: AgentFrame(type: AgentMessageType.configure.rawValue, requestID: 1, payload: payload))
    }

    @Test func optionalPartsStayAbsent() throws {
        let minimal = GuestConfig(workload: WorkloadSpec(argv: ["true"]), hostname: "m")
        guard case .configure(let decoded) = try decode(AgentMessage.configure(minimal).payload()) else {
            Issue.record("not a configure")
            return
        }
        #expect(decoded.network == nil)
        #expect(decoded.volumes.isEmpty)
        #expect(decoded.groups.isEmpty)
        #expect(decoded.rootDevice == "/dev/vda")
    }

    @Test func missingRequiredFieldsAreNamed() throws {
        var writer = AgentPayloadWriter()
        writer.bytes(AgentMessage.Tag.workload, config.workload.encoded())
        writer.int(AgentMessage.Tag.uid, 0)
        #expect(throws: AgentProtocolError.malformedPayload("configure: missing field gid")) { try decode(writer.bytes) }
        #expect(throws: AgentProtocolError.malformedPayload("configure: missing field workload")) { try decode([]) }
    }

    @Test func outOfRangeIntegersAreRejected() throws {
        var payload = AgentMessage.configure(config).payload()
        var writer = AgentPayloadWriter()
        writer.int(AgentMessage.Tag.group, -1)
        payload += writer.bytes
        #expect(throws: AgentProtocolError.malformedPayload("configure: field group value -1 is out of range")) {
            try decode(payload)
        }
        var network = AgentPayloadWriter()
        network.string(AgentMessage.Tag.mac, "52:54:00:00:00:01")
        network.string(AgentMessage.Tag.address, "10.0.0.2")
        network.int(AgentMessage.Tag.prefixLength, 300)
        var outer = AgentPayloadWriter()
        config.write(to: &outer)
        let withoutNetwork = GuestConfig(workload: config.workload, hostname: "h")
        var bad = AgentPayloadWriter()
        withoutNetwork.write(to: &bad)
        bad.bytes(AgentMessage.Tag.network, network.bytes)
        #expect(throws: AgentProtocolError.malformedPayload("configure network: field prefixLength value 300 is out of range")) {
            try decode(bad.bytes)
        }
    }

    @Test func aTruncatedNestedPayloadIsAnError() throws {
        var writer = AgentPayloadWriter()
        GuestConfig(workload: config.workload, hostname: "h").write(to: &writer)
        writer.bytes(AgentMessage.Tag.volume, [39, 0, 0, 0, 50, 1])
        #expect(throws: AgentProtocolError.self) { try decode(writer.bytes) }
        var emptyWorkload = AgentPayloadWriter()
        emptyWorkload.bytes(AgentMessage.Tag.workload, [])
        #expect(throws: AgentProtocolError.malformedPayload("workload spec: argv is empty")) { try decode(emptyWorkload.bytes) }
    }
}
