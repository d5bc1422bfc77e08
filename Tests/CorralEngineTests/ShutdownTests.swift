import CorralCore
import CorralEngine
import Foundation
import Logging
import ServiceLifecycle
import Testing

@Suite("shutdown")
struct ShutdownTests {
    @Test("cancelling run() stops the engine; instances keep running; later changes fail instead of hanging")
    func cancellationStopsTheEngine() async throws {
        let h = try await EngineHarness.make()
        let run = h.run()
        let created = try await h.engine.create([.named("survivor")])
        _ = try await h.engine.wait("survivor", for: .running, timeout: .seconds(10))
        await run.stop()
        #expect(await h.driver.liveHandle(created[0].uuid) != nil)
        #expect(await h.driver.count(.kill, created[0].uuid) == 0)

        let late = EngineTask { try await h.engine.stop("survivor", StopRequest()) }
        try await eventually("the late stop to be answered") { late.finished }
        let error = await corralError { _ = try await late.value() }
        #expect(error?.code == .unavailable)
        #expect(await h.store.record(created[0].uuid)?.state == .running)
    }

    @Test("a graceful shutdown of the service group stops the engine")
    func gracefulShutdown() async throws {
        let h = try await EngineHarness.make()
        let group = ServiceGroup(configuration: .init(services: [h.engine], logger: EngineHarness.logger))
        let done = EngineTask { try await group.run() }
        let created = try await h.engine.create([.named("survivor")])
        _ = try await h.engine.wait("survivor", for: .running, timeout: .seconds(10))
        await group.triggerGracefulShutdown()
        try await eventually("the service group to return") { done.finished }
        try await done.value()
        #expect(await h.driver.liveHandle(created[0].uuid) != nil)
    }
}
