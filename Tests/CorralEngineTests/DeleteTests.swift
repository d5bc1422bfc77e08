import CorralCore
import CorralEngine
import Foundation
import Testing

@Suite("delete")
struct DeleteTests {
    @Test("delete while the start hangs: kill and destroy after the start, then the record is gone")
    func deleteWhileStarting() async throws {
        try await withEngine { h in
            await h.driver.script("doomed", [.hang])
            let created = try await h.engine.create([.named("doomed")])
            let uuid = try #require(created.first?.uuid)
            try await eventually("the start to hang") { await h.driver.hangingCount("doomed") == 1 }

            let deletion = EngineTask { try await h.engine.delete("doomed") }
            await settle()
            // The delete waits behind the start in the instance's mailbox.
            #expect(!deletion.finished)
            #expect(try await h.record("doomed").state == .starting)
            #expect(try await h.record("doomed").desired.deleteRequested == false)

            await h.driver.releaseStarts("doomed")
            let result = try await deletion.value()
            #expect(result.record == nil)
            #expect(await h.store.record(uuid) == nil)
            #expect(h.engine.list().isEmpty)
            let lookup = await corralError { _ = try await h.engine.get("doomed") }
            #expect(lookup?.code == .notFound)

            await settle()
            #expect(await h.driver.kinds(uuid) == [.start, .kill, .cleanup, .destroy])
            #expect(await h.driver.liveHandle(uuid) == nil)
        }
    }

    @Test("delete while a start hangs and then fails: destroy only, nothing to kill")
    func deleteWhileStartingThatFails() async throws {
        try await withEngine { h in
            await h.driver.script("doomed", [.hang(thenFail: "image vanished")])
            let created = try await h.engine.create([.named("doomed")])
            let uuid = try #require(created.first?.uuid)
            try await eventually("the start to hang") { await h.driver.hangingCount("doomed") == 1 }
            let deletion = EngineTask { try await h.engine.delete("doomed") }
            await settle()
            #expect(!deletion.finished)
            await h.driver.releaseStarts("doomed")
            _ = try await deletion.value()
            #expect(await h.store.record(uuid) == nil)
            await settle()
            #expect(await h.driver.kinds(uuid) == [.start, .destroy])
        }
    }

    @Test("delete of a stopped instance destroys it; delete_lock refuses")
    func deleteStoppedAndLocked() async throws {
        try await withEngine { h in
            var locked = InstanceSpec.fake()
            locked.deleteLock = true
            let created = try await h.engine.create([
                .named("plain", autostart: false),
                CreateInstance(name: "locked", spec: locked, autostart: false),
            ])
            let result = try await h.engine.delete("plain")
            #expect(result.previousState == .stopped)
            #expect(await h.store.record(created[0].uuid) == nil)
            #expect(await h.driver.kinds(created[0].uuid) == [.destroy])

            let refused = await corralError { _ = try await h.engine.delete("locked") }
            #expect(refused?.code == .conflict)
            #expect(await h.store.record(created[1].uuid)?.desired.deleteRequested == false)
            #expect(await h.driver.kinds(created[1].uuid).isEmpty)
        }
    }

    @Test("delete-on-stop removes the instance once its workload exits")
    func deleteOnStop() async throws {
        try await withEngine { h in
            let created = try await h.engine.create([CreateInstance(name: "once", spec: .fake(features: [.deleteOnStop]), autostart: true)])
            let uuid = try #require(created.first?.uuid)
            _ = try await h.engine.wait("once", for: .running, timeout: .seconds(10))
            let gone = Task { try await h.engine.wait("once", for: .deleted, timeout: .seconds(10)) }
            #expect(await h.driver.crash(uuid, status: ExitStatus(code: 0, at: Date())))
            #expect(try await gone.value == nil)
            #expect(await h.store.record(uuid) == nil)
            let kinds = await h.driver.kinds(uuid)
            #expect(Array(kinds.prefix(3)) == [.start, .cleanup, .destroy])
            // The machine asks for destroy twice here (once from the exit, once from
            // its reconcile pass); destroy is idempotent, so only more than that is wrong.
            #expect(kinds.dropFirst(3).allSatisfy { $0 == .destroy })
        }
    }
}

/// A task whose completion can be checked without waiting for it.
final class EngineTask<Value: Sendable>: Sendable {
    private let task: Task<Value, any Error>
    private let done: Flag

    init(_ body: @escaping @Sendable () async throws -> Value) {
        let done = Flag()
        self.done = done
        task = Task {
            defer { done.set() }
            return try await body()
        }
    }

    var finished: Bool { done.value }

    /// The value, waiting at most `timeout` (real time) for it.
    func value(timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation) async throws -> Value {
        try await eventually("the operation to return", timeout: timeout, sourceLocation: sourceLocation) { finished }
        return try await task.value
    }
}
