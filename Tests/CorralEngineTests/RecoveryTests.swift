import CorralCore
import CorralEngine
import Foundation
import Testing

@Suite("recovery after a daemon restart")
struct RecoveryTests {
    private static func handle(_ n: Int32) -> DriverHandle {
        DriverHandle(shimPID: 500 + n, shimStartTime: 1, workloadPID: 600 + n, workloadStartTime: 1)
    }

    /// A record as an earlier daemon left it.
    private static func stored(
        _ name: String, _ phase: Phase, power: DesiredState.Power = .running,
        policy: RestartPolicy = .never, deleteRequested: Bool = false, at now: Date,
        adjust: (inout InstanceRecord) -> Void = { _ in }
    ) -> InstanceRecord {
        var record = InstanceRecord(
            uuid: UUID(), name: name, createdAt: now.addingTimeInterval(-600), spec: .fake(policy),
            desired: DesiredState(power: power, startRequest: 1, deleteRequested: deleteRequested, generation: 2)
        )
        record.observed.phase = phase
        record.observed.appliedGeneration = 2
        record.observed.handledStartRequest = 1
        record.observed.startCount = 1
        record.observed.startedAt = now.addingTimeInterval(-300)
        adjust(&record)
        return record
    }

    @Test("stored phases are adopted, reported, restarted, finished")
    func recoverStoredPhases() async throws {
        let clock = ManualClock()
        let now = clock.now()
        let alive = Self.stored("alive", .running(handle: Self.handle(1)), at: now)
        let exited = Self.stored("exited", .running(handle: Self.handle(2)), at: now)
        let lost = Self.stored("lost", .running(handle: Self.handle(3)), at: now)
        let halting = Self.stored(
            "halting", .stopping(handle: Self.handle(4), killAt: now.addingTimeInterval(-1), initiator: .user, killed: false),
            power: .stopped, at: now
        )
        let booting = Self.stored("booting", .starting, at: now)
        let removing = Self.stored("removing", .deleting, deleteRequested: true, at: now)
        let backoff = Self.stored("backoff", .stopped, policy: .always, at: now) { record in
            record.observed.restart = RestartSequence(attempt: 3, nextAt: now.addingTimeInterval(10))
            record.observed.restartCount = 2
            record.observed.lastExit = ExitStatus(code: 1, at: now.addingTimeInterval(-5))
        }
        let idle = Self.stored("idle", .stopped, power: .stopped, at: now)
        let store = InMemoryStateStore(
            records: [alive, exited, lost, halting, booting, removing, backoff, idle],
            quarantined: [QuarantinedRecord(key: "instances/broken", reason: "invalid JSON")]
        )
        let h = try await EngineHarness.make(store: store, clock: clock)
        await h.driver.setAdoptResult(alive.uuid, .running(Self.handle(1)))
        await h.driver.setAdoptResult(exited.uuid, .exited(ExitStatus(code: 3, at: now.addingTimeInterval(-60))))
        await h.driver.setAdoptResult(lost.uuid, .lost(reason: "its shim is gone"))
        await h.driver.setAdoptResult(halting.uuid, .running(Self.handle(4)))
        let run = h.run()
        do {
            // running + adopted running: still running, same handle, nothing else done.
            try await eventually("adoption of alive") { await h.driver.count(.adopt, alive.uuid) == 1 }

            // running + adopted exited: stopped, with the exit code it left.
            try await eventually("the exit found at adoption") {
                await h.store.record(exited.uuid)?.state == .stopped
            }
            let gone = try await h.record("exited")
            #expect(gone.observed.lastExit?.code == 3)
            #expect(gone.observed.message == "exited with code 3")
            #expect(gone.observed.stopReason == [.app, .kernel])
            #expect(gone.observed.restart == nil)

            // running + lost: stopped, saying so.
            try await eventually("the lost instance") { try await h.record("lost").state == .stopped }
            #expect(try await h.record("lost").observed.message?.contains("its shim is gone") == true)

            // stopping past its kill deadline: killed, then stopped as a user stop.
            let halted = try #require(try await h.engine.wait("halting", for: .stopped, timeout: .seconds(10)))
            #expect(halted.observed.stopReason?.rawValue == 13)

            // starting: cleaned up and started again.
            let booted = try #require(try await h.engine.wait("booting", for: .running, timeout: .seconds(10)))
            #expect(booted.observed.startCount == 2)

            // deleting: the delete is finished.
            try await eventually("the interrupted delete to finish") { await h.store.record(removing.uuid) == nil }
            #expect(h.engine.list().contains { $0.uuid == removing.uuid } == false)

            // stopped with a restart pending: the restart happens when it is due, not before.
            await settle()
            #expect(await h.driver.kinds(backoff.uuid).isEmpty)
            #expect(try await h.record("backoff").state == .stopped)
            h.clock.advance(by: 10)
            let restarted = try #require(try await h.engine.wait("backoff", for: .running, timeout: .seconds(10)))
            #expect(restarted.observed.restartCount == 3)

            await settle()
            #expect(await h.driver.kinds(alive.uuid) == [.adopt])
            #expect(try await h.record("alive").observed.phase == .running(handle: Self.handle(1)))
            #expect(await h.driver.kinds(exited.uuid) == [.adopt, .cleanup])
            #expect(await h.driver.kinds(lost.uuid) == [.adopt, .cleanup])
            #expect(await h.driver.kinds(halting.uuid) == [.adopt, .kill, .cleanup])
            #expect(await h.driver.kinds(booting.uuid) == [.cleanup, .start])
            #expect(await h.driver.kinds(removing.uuid) == [.destroy])
            #expect(await h.driver.kinds(backoff.uuid) == [.start])
            #expect(await h.driver.kinds(idle.uuid).isEmpty)
            #expect(try await h.record("idle") == idle)
            #expect(await h.driver.overlaps.isEmpty)
        } catch {
            await run.stop()
            throw error
        }
        await run.stop()
    }

    @Test("a restarted engine over the same store re-adopts what the first one started")
    func restartOverTheSameStore() async throws {
        let store = InMemoryStateStore()
        let clock = ManualClock()
        let first = try await EngineHarness.make(store: store, clock: clock)
        let firstRun = first.run()
        let created = try await first.engine.create([.named("keeper"), .named("sleeper", autostart: false)])
        let keeper = created[0].uuid
        let running = try #require(try await first.engine.wait("keeper", for: .running, timeout: .seconds(10)))
        await firstRun.stop()
        // The workload outlives the daemon.
        #expect(await first.driver.liveHandle(keeper) != nil)

        let second = try await EngineHarness.make(store: store, driver: first.driver, clock: clock)
        #expect(second.engine.list().map(\.name) == ["keeper", "sleeper"])
        let secondRun = second.run()
        do {
            try await eventually("the re-adoption") { await second.driver.count(.adopt, keeper) == 1 }
            #expect(try await second.record("keeper").observed.phase == running.observed.phase)
            // Its exit now reaches the new engine.
            #expect(await second.driver.crash(keeper, status: ExitStatus(code: 4, at: Date())))
            let stopped = try #require(try await second.engine.wait("keeper", for: .stopped, timeout: .seconds(10)))
            #expect(stopped.observed.lastExit?.code == 4)
            #expect(await store.record(keeper) == stopped)
            #expect(await second.driver.count(.start, keeper) == 1)
        } catch {
            await secondRun.stop()
            throw error
        }
        await secondRun.stop()
    }
}
