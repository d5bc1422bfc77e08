import CorralCore
import CorralEngine
import Foundation
import Testing

@Suite("store write failures")
struct StoreFailureTests {
    @Test("a refused write of the started instance is not announced, and is retried without starting twice")
    func startedTransitionRetried() async throws {
        try await withEngine { h in
            await h.store.failWrites { $0.updated?.state == .running }
            let created = try await h.engine.create([.named("flaky")])
            let uuid = try #require(created.first?.uuid)
            try await eventually("the refused write") { await h.store.refusedWrites >= 1 }

            #expect(try await h.record("flaky").state == .starting)
            #expect(await h.store.record(uuid)?.state == .starting)
            let early = await corralError { _ = try await h.engine.wait("flaky", for: .running, timeout: .milliseconds(100)) }
            #expect(early?.code == .timeout)

            let retryAt = h.clock.now().addingTimeInterval(5)
            try await eventually("the retry to be scheduled") { h.clock.deadlines.contains(retryAt) }
            await h.store.stopFailing()
            let waiter = Task { try await h.engine.wait("flaky", for: .running, timeout: .seconds(10)) }
            h.clock.advance(by: 5)
            let running = try #require(try await waiter.value)
            #expect(await h.store.record(uuid) == running)
            #expect(running.observed.startCount == 1)
            #expect(try running.observed.phase.runningHandle() == (await h.driver.liveHandle(uuid)))
            #expect(await h.driver.count(.start, uuid) == 1)
        }
    }

    @Test("a refused write of an exit is not announced, and is retried with its exit status")
    func exitTransitionRetried() async throws {
        try await withEngine { h in
            let created = try await h.engine.create([.named("steady")])
            let uuid = try #require(created.first?.uuid)
            _ = try await h.engine.wait("steady", for: .running, timeout: .seconds(10))

            await h.store.failWrites()
            #expect(await h.driver.crash(uuid, status: ExitStatus(code: 7, at: Date())))
            try await eventually("the refused write") { await h.store.refusedWrites >= 1 }
            #expect(try await h.record("steady").state == .running)
            let early = await corralError { _ = try await h.engine.wait("steady", for: .stopped, timeout: .milliseconds(100)) }
            #expect(early?.code == .timeout)
            #expect(await h.driver.count(.cleanup, uuid) == 0)

            // Still offline at the first retry: still nothing announced.
            let refused = await h.store.refusedWrites
            h.clock.advance(by: 5)
            try await eventually("the second refused write") { await h.store.refusedWrites > refused }
            #expect(try await h.record("steady").state == .running)

            await h.store.stopFailing()
            h.clock.advance(by: 5)
            let stopped = try #require(try await h.engine.wait("steady", for: .stopped, timeout: .seconds(10)))
            #expect(stopped.observed.lastExit?.code == 7)
            #expect(await h.store.record(uuid) == stopped)
            try await eventually("cleanup") { await h.driver.count(.cleanup, uuid) == 1 }
        }
    }

    @Test("a refused write of an API change fails the call and changes nothing")
    func mutationRefused() async throws {
        try await withEngine { h in
            let created = try await h.engine.create([.named("kept")])
            let uuid = try #require(created.first?.uuid)
            let before = try #require(try await h.engine.wait("kept", for: .running, timeout: .seconds(10)))
            await h.store.failWrites()
            let error = await corralError { _ = try await h.engine.stop("kept", StopRequest()) }
            #expect(error?.code == .unavailable)
            await settle()
            #expect(try await h.record("kept") == before)
            #expect(await h.store.record(uuid) == before)
            #expect(await h.driver.kinds(uuid) == [.start])
            await h.store.stopFailing()
            _ = try await h.engine.stop("kept", StopRequest())
            _ = try await h.engine.wait("kept", for: .stopped, timeout: .seconds(10))
        }
    }

    @Test("a refused insert creates nothing and leaves the name free")
    func insertRefused() async throws {
        try await withEngine { h in
            await h.store.failWrites()
            let error = await corralError { _ = try await h.engine.create([.named("again")]) }
            #expect(error?.code == .unavailable)
            #expect(h.engine.list().isEmpty)
            await h.store.stopFailing()
            let created = try await h.engine.create([.named("again")])
            #expect(created.count == 1)
            _ = try await h.engine.wait("again", for: .running, timeout: .seconds(10))
        }
    }
}
