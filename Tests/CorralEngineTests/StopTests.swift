import CorralCore
import CorralEngine
import Foundation
import Testing

@Suite("stop")
struct StopTests {
    @Test("a workload that ignores SIGTERM is killed when the grace has passed: stop_reason 13")
    func killAfterGrace() async throws {
        try await withEngine { h in
            await h.driver.setTerminate("stubborn", .ignore)
            let created = try await h.engine.create([.named("stubborn")])
            let uuid = try #require(created.first?.uuid)
            _ = try await h.engine.wait("stubborn", for: .running, timeout: .seconds(10))

            let killAt = h.clock.now().addingTimeInterval(3)
            let result = try await h.engine.stop("stubborn", StopRequest(graceMilliseconds: 3000))
            #expect(result.previousState == .running)
            #expect(result.record?.state == .stopping)
            try await eventually("terminate") { await h.driver.count(.terminate, uuid) == 1 }
            try await eventually("the timer to wait for the grace") { h.clock.deadlines.contains(killAt) }

            h.clock.advance(by: 2.5)
            await settle()
            #expect(await h.driver.count(.kill, uuid) == 0)
            #expect(try await h.record("stubborn").state == .stopping)

            h.clock.advance(by: 0.5)
            let stopped = try #require(try await h.engine.wait("stubborn", for: .stopped, timeout: .seconds(10)))
            #expect(stopped.observed.stopReason?.rawValue == 13)
            #expect(stopped.observed.stopReason == [.user, .platform, .kernel])
            #expect(stopped.observed.lastExit?.signal == 9)
            #expect(await h.store.record(uuid) == stopped)
            #expect(await h.driver.kinds(uuid) == [.start, .terminate, .kill, .cleanup])
        }
    }

    @Test("a workload that exits on SIGTERM stops with stop_reason 15 and is never killed")
    func exitOnTerminate() async throws {
        try await withEngine { h in
            let created = try await h.engine.create([.named("polite")])
            let uuid = try #require(created.first?.uuid)
            _ = try await h.engine.wait("polite", for: .running, timeout: .seconds(10))

            // No grace given: the default of 10 s applies.
            let killAt = h.clock.now().addingTimeInterval(10)
            let result = try await h.engine.stop("polite", StopRequest())
            guard case .stopping(_, let due, .user, false)? = result.record?.observed.phase else {
                Issue.record("expected a stop in progress, got \(String(describing: result.record?.observed.phase))")
                return
            }
            #expect(due == killAt)
            let stopped = try #require(try await h.engine.wait("polite", for: .stopped, timeout: .seconds(10)))
            #expect(stopped.observed.stopReason?.rawValue == 15)
            #expect(stopped.observed.lastExit?.code == 0)
            #expect(stopped.observed.message == "exited with code 0")

            h.clock.advance(by: 10)
            await settle()
            #expect(await h.driver.kinds(uuid) == [.start, .terminate, .cleanup])
        }
    }

    @Test("force kills at once: stop_reason 28")
    func forceStop() async throws {
        try await withEngine { h in
            let created = try await h.engine.create([.named("forced")])
            let uuid = try #require(created.first?.uuid)
            _ = try await h.engine.wait("forced", for: .running, timeout: .seconds(10))
            _ = try await h.engine.stop("forced", StopRequest(force: true))
            let stopped = try #require(try await h.engine.wait("forced", for: .stopped, timeout: .seconds(10)))
            #expect(stopped.observed.stopReason?.rawValue == 28)
            #expect(stopped.observed.lastExit?.signal == 9)
            #expect(await h.driver.kinds(uuid) == [.start, .kill, .cleanup])
        }
    }

    @Test("stopping a stopped instance is not an error and calls no driver; a negative grace is refused")
    func stopStopped() async throws {
        try await withEngine { h in
            let created = try await h.engine.create([.named("resting", autostart: false)])
            let result = try await h.engine.stop("resting", StopRequest())
            #expect(result.previousState == .stopped)
            #expect(result.record?.state == .stopped)
            let negative = await corralError { _ = try await h.engine.stop("resting", StopRequest(graceMilliseconds: -1)) }
            #expect(negative?.code == .invalidArgument)
            let missing = await corralError { _ = try await h.engine.stop("nobody", StopRequest()) }
            #expect(missing?.code == .notFound)
            await settle()
            #expect(await h.driver.kinds(created[0].uuid).isEmpty)
        }
    }

    @Test("suspend freezes and start thaws when the driver can freeze; otherwise unsupported")
    func suspendAndResume() async throws {
        try await withEngine(capabilities: [.freeze]) { h in
            let created = try await h.engine.create([.named("cold")])
            let uuid = try #require(created.first?.uuid)
            _ = try await h.engine.wait("cold", for: .running, timeout: .seconds(10))
            _ = try await h.engine.suspend("cold")
            _ = try await h.engine.wait("cold", for: .standby, timeout: .seconds(10))
            _ = try await h.engine.start("cold")
            _ = try await h.engine.wait("cold", for: .running, timeout: .seconds(10))
            try await eventually("thaw") { await h.driver.count(.thaw, uuid) == 1 }
            #expect(await h.driver.kinds(uuid) == [.start, .freeze, .thaw])
        }
        try await withEngine { h in
            _ = try await h.engine.create([.named("warm")])
            _ = try await h.engine.wait("warm", for: .running, timeout: .seconds(10))
            let error = await corralError { _ = try await h.engine.suspend("warm") }
            #expect(error?.code == .unsupported)
        }
    }

    @Test("readLog returns the driver's bytes for the instance")
    func readLog() async throws {
        try await withEngine { h in
            let created = try await h.engine.create([.named("chatty", autostart: false)])
            await h.driver.setLog(created[0].uuid, "hello\nworld\n")
            let (record, chunk) = try await h.engine.readLog("chatty", offset: 6, limit: 100)
            #expect(record.uuid == created[0].uuid)
            #expect(String(decoding: chunk.bytes, as: UTF8.self) == "world\n")
            #expect(chunk.rangeStart == 6)
            #expect(chunk.availableEnd == 12)
        }
    }
}
