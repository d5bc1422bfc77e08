import Foundation
import Testing

@testable import CorralAPI

private func keys(of value: some Encodable) throws -> Set<String> {
    guard case .object(let members) = try JSONValue(encoding: value) else { return [] }
    return Set(members.keys)
}

private func roundTrip<T: Codable & Equatable>(_ value: T) throws -> T {
    try JSONDecoder().decode(T.self, from: try JSONEncoder().encode(value))
}

@Suite struct WireCodingTests {
    @Test func createRequestEncodesEveryFieldItDeclares() throws {
        let request = CreateInstanceRequest(
            name: "n", image: .spec(.init(url: "u", pullPolicy: .ifNotPresent)), args: ["a"], env: ["K": "V"],
            memoryMB: 1, vcpus: 1, serviceGroup: .init(name: "g"), volumes: [.init(at: "/a")], autostart: true,
            replicas: 0, restartPolicy: .always, scaleToZero: .init(policy: .on), waitTimeoutMs: 1, timeoutS: 1,
            features: [.deleteOnStop], roms: [.init(name: "r")], plugins: [.init(name: "p", config: 1)],
            tags: ["t"], annotations: ["a": "b"], template: .init(name: "t"), schedPriority: .normal,
            schedules: [.init(name: "s")], autokill: .init(timeMs: 1), hostname: "h",
            dependencies: [.name("d")], branchFrom: .uuid("b"), checkpoint: .name("c"), gateway: "g",
            nameserver: "n", networkInterfaces: [.init(name: "eth0")], type: .micro, gpus: 0, driver: "process",
            ports: ["8080:80"], kernel: .init(path: "/k", initrd: "/i", cmdline: ["quiet": ""]))
        #expect(try keys(of: request) == CreateInstanceRequest.fields)
        #expect(try roundTrip(request) == request)
    }

    @Test func requestItemsEncodeExactlyTheirSchemaFields() throws {
        #expect(
            try keys(of: StopInstancesRequestItem(uuid: "u", name: "n", force: true, drainTimeoutMs: 1, quick: true, ifstate: "running", dump: false))
                == StopInstancesRequestItem.fields)
        #expect(try keys(of: StartInstancesRequestItem(uuid: "u", name: "n", waitTimeoutMs: 1, timeoutS: 1)) == StartInstancesRequestItem.fields)
        #expect(try keys(of: SuspendInstancesRequestItem(uuid: "u", name: "n", drainTimeoutMs: 1)) == SuspendInstancesRequestItem.fields)
        #expect(try keys(of: DeleteInstancesRequestItem(uuid: "u", name: "n", timeoutS: 1, dontRetain: true)) == DeleteInstancesRequestItem.fields)
        #expect(
            try keys(of: WaitInstancesRequestItem(uuid: "u", name: "n", state: .running, timeoutMs: 1, timeoutS: 1))
                == WaitInstancesRequestItem.fields)
        #expect(try keys(of: InstanceLogsRequestItem(uuid: "u", name: "n", offset: 1, limit: 1)) == InstanceLogsRequestItem.fields)
        #expect(
            try keys(of: UpdateInstancesRequestItem(uuid: "u", name: "n", id: "i", prop: .memoryMB, op: .set, value: 5))
                == UpdateInstancesRequestItem.fields)
    }

    @Test func absentFieldsAreOmitted() throws {
        let text = String(decoding: try JSONEncoder().encode(StopInstanceRequestBody(force: true)), as: UTF8.self)
        #expect(text == #"{"force":true}"#)
    }

    @Test func instanceUsesSnakeCaseKeys() throws {
        let instance = InstanceDTO(
            uuid: "7f3e", name: "web", createdAt: "2025-01-31T12:00:00.123Z", state: .running,
            privateFQDN: "web.internal", privateIP: "10.0.0.2", memoryMB: 128, startCount: 1, restartCount: 0,
            startedAt: "2025-01-31T12:00:01Z", uptimeMs: 5, bootTimeUs: 900, stopReason: 0, exitCode: 0,
            restartPolicy: .onFailure, restart: .init(attempt: 1, nextAt: "2025-01-31T12:00:06Z"),
            networkInterfaces: [.init(privateIP: "10.0.0.2", tapName: "tap0")], deleteLock: false,
            features: [.deleteOnStop], driver: "process", pid: 4242)
        guard case .object(let members) = try JSONValue(encoding: instance) else {
            Issue.record("instance did not encode to an object")
            return
        }
        for key in [
            "created_at", "private_fqdn", "private_ip", "memory_mb", "start_count", "restart_count", "started_at",
            "uptime_ms", "boot_time_us", "stop_reason", "exit_code", "restart_policy", "network_interfaces",
            "delete_lock", "driver", "pid",
        ] {
            #expect(members[key] != nil, "missing \(key)")
        }
        #expect(members["restart"] == ["attempt": 1, "next_at": "2025-01-31T12:00:06Z"])
        #expect(members["network_interfaces"] == [["private_ip": "10.0.0.2", "tap_name": "tap0"]])
        #expect(members["restart_policy"] == "on-failure")
        #expect(members["features"] == ["delete-on-stop"])
        #expect(try roundTrip(instance) == instance)
    }

    @Test func partialBatchItemsDecode() throws {
        let text = #"""
            {"status":"partial_success","message":"1 of 2 failed","op_time_us":12,
             "data":{"instances":[{"uuid":"a","name":"x","state":"stopped","previous_state":"running"},
                                  {"status":"error","name":"y","message":"instance not found","error":8}]},
             "errors":[{"status":404,"message":"instance not found","error":8}]}
            """#
        let envelope = try JSONDecoder().decode(Envelope<InstancesData<InstanceStateChangeDTO>>.self, from: Data(text.utf8))
        #expect(envelope.status == .partialSuccess)
        #expect(envelope.opTimeUs == 12)
        let items = envelope.data?.instances ?? []
        #expect(items.count == 2)
        #expect(items[0].previousState == .running)
        #expect(items[0].failed == false)
        #expect(items[1].failed)
        #expect(items[1].error == ItemErrorCode.notFound)
        #expect(envelope.errors == [ResponseError(status: 404, message: "instance not found", error: 8)])
    }

    @Test func sparseInstanceDecodes() throws {
        let instance = try JSONDecoder().decode(InstanceDTO.self, from: Data(#"{"uuid":"a"}"#.utf8))
        #expect(instance.uuid == "a")
        #expect(instance.state == nil)
    }

    @Test func envelopeRoundTrips() throws {
        let envelope = Envelope(
            status: .success, data: DriversData(drivers: [.init(name: "process", available: true, capabilities: ["exec"], default: true)]),
            opTimeUs: 3)
        let tree = try JSONValue(encoding: envelope)
        #expect(
            tree == [
                "status": "success", "op_time_us": 3,
                "data": ["drivers": [["name": "process", "available": true, "notes": [], "capabilities": ["exec"], "default": true]]],
            ])
        #expect(try roundTrip(envelope) == envelope)
    }

    @Test func healthzDecodes() throws {
        let text = #"{"status":"success","data":{"checks":{"store":"healthy"},"versions":{"corrald":"0.1.0"}}}"#
        let envelope = try JSONDecoder().decode(Envelope<HealthzDTO>.self, from: Data(text.utf8))
        #expect(envelope.data?.checks?["store"] == .healthy)
        #expect(envelope.data?.versions?["corrald"] == "0.1.0")
    }

    @Test func logOutputIsBase64() throws {
        let logs = InstanceLogsDTO(
            uuid: "a", name: "x", bytes: Data("hi\n".utf8), available: .init(start: 0, end: 3), range: .init(start: 0, end: 3),
            state: .running)
        #expect(logs.output == "aGkK")
        let decoded = try roundTrip(logs)
        #expect(decoded.outputBytes == Data("hi\n".utf8))
        #expect(try keys(of: logs) == ["uuid", "name", "output", "available", "range", "state"])
    }

    @Test func metricsUseWireKeys() throws {
        let metrics = InstanceMetricsDTO(uuid: "a", rssBytes: 1, cpuTimeMs: 2, bootTimeUs: 3)
        #expect(try keys(of: metrics) == ["uuid", "rss_bytes", "cpu_time_ms", "boot_time_us"])
    }

    @Test func imageEncodesInTheFormItCameIn() throws {
        #expect(try JSONValue(encoding: CreateInstanceRequest.Image.reference("busybox")) == "busybox")
        #expect(
            try JSONValue(encoding: CreateInstanceRequest.Image.spec(.init(url: "busybox", pullPolicy: .never)))
                == ["url": "busybox", "pull_policy": "never"])
    }

    @Test func jsonValueRoundTrips() throws {
        let value: JSONValue = ["a": [1, 2.5, true, nil, "s"], "b": [:]]
        #expect(try JSONValue(parsing: try JSONEncoder().encode(value)) == value)
        let text = String(decoding: try JSONEncoder().encode(JSONValue.number(3)), as: UTF8.self)
        #expect(text == "3")
    }
}

@Suite struct WireDateTests {
    @Test func formatsUTCWithZ() {
        let date = Date(timeIntervalSince1970: 1_738_324_800.25)
        #expect(WireDate.format(date) == "2025-01-31T12:00:00.250Z")
    }

    @Test func parsesWithAndWithoutFractionsAndOffsets() {
        #expect(WireDate.parse("2025-01-31T12:00:00Z") == Date(timeIntervalSince1970: 1_738_324_800))
        #expect(WireDate.parse("2025-01-31T12:00:00.5Z") == Date(timeIntervalSince1970: 1_738_324_800.5))
        #expect(WireDate.parse("2025-01-31T14:00:00+02:00") == Date(timeIntervalSince1970: 1_738_324_800))
        #expect(WireDate.parse("yesterday") == nil)
    }

    @Test func roundTrips() {
        let date = Date(timeIntervalSince1970: 1_700_000_000.123)
        let parsed = WireDate.parse(WireDate.format(date))
        #expect(abs((parsed?.timeIntervalSince1970 ?? 0) - date.timeIntervalSince1970) < 0.001)
    }
}

@Suite struct EnvelopeBuildingTests {
    @Test func aggregatesBatchStatus() {
        let ok = InstanceStateChangeDTO(name: "a", state: .running)
        let bad = InstanceStateChangeDTO(status: .error, message: "instance not found", error: ItemErrorCode.notFound, name: "b")
        #expect(ResponseStatus.aggregate([ok, ok]) == .success)
        #expect(ResponseStatus.aggregate([ok, bad]) == .partialSuccess)
        #expect(ResponseStatus.aggregate([bad]) == .error)
        #expect(ResponseStatus.aggregate([InstanceStateChangeDTO]()) == .success)
    }

    @Test func failureCarriesTheHTTPStatus() throws {
        let envelope = Envelope<InstancesData<InstanceDTO>>.failure(httpStatus: 400, message: "unknown field 'foo'")
        #expect(
            try JSONValue(encoding: envelope)
                == ["status": "error", "message": "unknown field 'foo'", "errors": [["status": 400, "message": "unknown field 'foo'"]]])
    }
}
