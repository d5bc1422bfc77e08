import CorralCore
import CorralEngine
import Foundation
import Testing

@Suite("update and drivers")
struct UpdateTests {
    @Test("update renames and changes the spec through the mailbox, validating both")
    func update() async throws {
        try await withEngine { h in
            let created = try await h.engine.create([.named("old-name", autostart: false), .named("neighbour", autostart: false)])
            let uuid = created[0].uuid

            let renamed = try await h.engine.update("old-name") { $0.name = "new-name" }
            #expect(renamed.record?.name == "new-name")
            #expect(renamed.record?.desired.generation == 2)
            #expect(await h.store.record(uuid)?.name == "new-name")
            #expect(try await h.engine.get("new-name").uuid == uuid)
            let oldLookup = await corralError { _ = try await h.engine.get("old-name") }
            #expect(oldLookup?.code == .notFound)

            let taken = await corralError { _ = try await h.engine.update("new-name") { $0.name = "neighbour" } }
            #expect(taken?.code == .conflict)
            let invalid = await corralError { _ = try await h.engine.update("new-name") { $0.name = "Not_Valid" } }
            #expect(invalid?.code == .invalidArgument)
            #expect(invalid?.message.hasPrefix("invalid name") == true)
            let tooBig = await corralError { _ = try await h.engine.update("new-name") { $0.spec.memoryMB = 1_000_000 } }
            #expect(tooBig?.code == .invalidArgument)
            #expect(tooBig?.message.contains("memory_mb") == true)

            _ = try await h.engine.update(uuid.uuidString) { $0.spec.tags = ["blue"] }
            let stored = try #require(await h.store.record(uuid))
            #expect(stored.spec.tags == ["blue"])
            #expect(stored.spec.memoryMB == 64)
            #expect(stored.name == "new-name")
            #expect(stored.desired.generation == 3)
        }
    }

    @Test("a driver whose probe fails is listed but refuses creates with unavailable")
    func unavailableDriver() async throws {
        let events = DriverEventStream()
        let fake = FakeDriver(sink: events)
        let broken = FakeDriver(name: "broken", available: false, sink: events)
        let store = InMemoryStateStore()
        let engine = InstanceEngine(
            configuration: .init(defaultDriver: "fake"), store: store, drivers: [fake, broken],
            exits: events.exits, loaded: try await store.load(), clock: ManualClock(), logger: EngineHarness.logger
        )
        await engine.probeDrivers()
        let infos = await engine.driverInfos()
        #expect(infos.map(\.name) == ["broken", "fake"])
        #expect(infos.map(\.probe.available) == [false, true])
        #expect(infos.map(\.isDefault) == [false, true])

        var spec = InstanceSpec.fake()
        spec.driver = "broken"
        let error = await corralError { _ = try await engine.create([CreateInstance(name: "vm", spec: spec, autostart: false)]) }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("no such hypervisor here") == true)
        // An empty driver name picks the default driver.
        spec.driver = ""
        let created = try await engine.create([CreateInstance(name: "plain", spec: spec, autostart: false)])
        #expect(created.first?.spec.driver == "fake")
    }
}
