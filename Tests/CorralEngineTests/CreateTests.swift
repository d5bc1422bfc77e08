import CorralCore
import CorralEngine
import Foundation
import Testing

@Suite("create")
struct CreateTests {
    @Test("autostart runs the instance and persists it before a waiter sees it running")
    func autostartRunsAndPersistsBeforeAnnouncing() async throws {
        try await withEngine { h in
            // Hold the store's write of the running record: until it is on "disk",
            // nobody may see the instance running.
            await h.store.holdWrites { $0.updated?.state == .running }
            let created = try await h.engine.create([.named("web")])
            #expect(created.map(\.name) == ["web"])
            #expect(created.first?.desired.power == .running)
            let uuid = try #require(created.first?.uuid)

            try await eventually("the running record to reach the store") { await h.store.heldCount == 1 }
            #expect(await h.driver.kinds(uuid) == [.start])
            #expect(try await h.record("web").state == .starting)
            let early = await corralError {
                _ = try await h.engine.wait("web", for: .running, timeout: .milliseconds(100))
            }
            #expect(early?.code == .timeout)

            let waiter = Task { try await h.engine.wait("web", for: .running, timeout: .seconds(10)) }
            await h.store.releaseHeld()
            let seen = try #require(try await waiter.value)

            let stored = try #require(await h.store.record(uuid))
            #expect(seen == stored)
            #expect(stored.state == .running)
            #expect(stored.observed.startCount == 1)
            #expect(stored.observed.restartCount == 0)
            #expect(stored.observed.bootTimeMicroseconds == FakeDriver.bootTimeMicroseconds)
            #expect(stored.observed.startedAt == h.clock.now())
            #expect(try stored.observed.phase.runningHandle() == (await h.driver.liveHandle(uuid)))
        }
    }

    @Test("without autostart the instance is stored stopped and nothing is started")
    func createStopped() async throws {
        try await withEngine { h in
            let created = try await h.engine.create([.named("idle", autostart: false)])
            let uuid = try #require(created.first?.uuid)
            #expect(await h.store.record(uuid)?.state == .stopped)
            await settle()
            #expect(await h.driver.kinds(uuid).isEmpty)
            #expect(try await h.record("idle").state == .stopped)
        }
    }

    @Test("several instances in one create are all stored; generated names are valid and distinct")
    func batchCreate() async throws {
        try await withEngine { h in
            let created = try await h.engine.create([.named(nil, autostart: false), .named(nil, autostart: false), .named("named", autostart: false)])
            #expect(created.count == 3)
            #expect(Set(created.map(\.name)).count == 3)
            for record in created {
                #expect(throws: Never.self) { try InstanceValidation.validateName(record.name) }
                #expect(await h.store.record(record.uuid) == record)
            }
            let listed: Set<UUID> = Set(h.engine.list().map(\.uuid))
            let stored: Set<UUID> = Set(created.map(\.uuid))
            #expect(listed == stored)
        }
    }

    @Test("duplicate names within one create are a conflict and nothing is created")
    func duplicateNamesInOneCreate() async throws {
        try await withEngine { h in
            let error = await corralError {
                _ = try await h.engine.create([.named("twin"), .named("other"), .named("twin")])
            }
            #expect(error?.code == .conflict)
            #expect(error?.message.contains("'twin'") == true)
            #expect(await h.store.count == 0)
            #expect(await h.store.acceptedWrites == 0)
            #expect(h.engine.list().isEmpty)
        }
    }

    @Test("a name taken by an existing instance is a conflict, and the whole batch is refused")
    func duplicateNameAgainstExisting() async throws {
        try await withEngine { h in
            let first = try await h.engine.create([.named("taken", autostart: false)])
            let error = await corralError {
                _ = try await h.engine.create([.named("fresh", autostart: false), .named("taken", autostart: false)])
            }
            #expect(error?.code == .conflict)
            #expect(error?.message.contains("'taken'") == true)
            #expect(await h.store.count == 1)
            #expect(h.engine.list().map(\.uuid) == first.map(\.uuid))
            #expect(!h.engine.list().contains { $0.name == "fresh" })
            #expect(await h.store.record(named: "fresh") == nil)
        }
    }

    @Test("an invalid name is an invalid argument that names the field", arguments: ["Upper", "under_score", "-dash", "dash-", "", String(repeating: "a", count: 64)])
    func invalidName(_ name: String) async throws {
        try await withEngine { h in
            let error = await corralError {
                _ = try await h.engine.create([.named("valid", autostart: false), .named(name, autostart: false)])
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.hasPrefix("invalid name") == true)
            #expect(await h.store.count == 0)
        }
    }

    @Test("an unknown driver and a spec the driver rejects are invalid arguments")
    func invalidSpecs() async throws {
        try await withEngine { h in
            var unknown = InstanceSpec.fake()
            unknown.driver = "teleport"
            let driverError = await corralError {
                _ = try await h.engine.create([CreateInstance(name: "x", spec: unknown, autostart: false)])
            }
            #expect(driverError?.code == .invalidArgument)
            #expect(driverError?.message.contains("teleport") == true)

            var rejected = InstanceSpec.fake()
            rejected.args = ["reject"]
            let specError = await corralError {
                _ = try await h.engine.create([CreateInstance(name: "y", spec: rejected, autostart: false)])
            }
            #expect(specError?.code == .invalidArgument)
            #expect(await h.store.count == 0)
        }
    }
}
