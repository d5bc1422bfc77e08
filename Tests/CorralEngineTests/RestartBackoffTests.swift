import CorralCore
import CorralEngine
import Foundation
import Testing

@Suite("restart back-off")
struct RestartBackoffTests {
    /// Waits until the instance is stopped with restart number `attempt` pending at `at`.
    private func expectPending(
        _ h: EngineHarness, _ name: String, attempt: Int, at: Date,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        try await eventually("restart \(attempt) of \(name) pending at +\(at.timeIntervalSince(h.clock.now())) s", sourceLocation: sourceLocation) {
            let record = try await h.record(name)
            return record.state == .stopped && record.observed.restart == RestartSequence(attempt: attempt, nextAt: at)
        }
        #expect(await h.store.record(named: name)?.observed.restart == RestartSequence(attempt: attempt, nextAt: at), sourceLocation: sourceLocation)
    }

    @Test("restarts at +0, +5, +10, +20, +40 s … capped at 300 s; a healthy run, a manual start and a manual stop end the sequence")
    func backoffSequence() async throws {
        try await withEngine { h in
            // Restart policy `always` restarts even after a clean exit.
            await h.driver.setExitAfterStart("crashy", ExitStatus(code: 0, at: Date()))
            let t0 = h.clock.now()
            _ = try await h.engine.create([.named("crashy", .always)])

            // The first start, and at +0 s the first restart.
            try await eventually("the first start and the immediate restart") {
                await h.driver.startCount(named: "crashy") == 2
            }
            #expect(h.clock.now() == t0)
            try await expectPending(h, "crashy", attempt: 2, at: t0.addingTimeInterval(5))
            #expect(try await h.record("crashy").observed.restartCount == 1)

            var starts = 2
            let delays: [Double] = [5, 10, 20, 40, 80, 160, 300, 300]
            for (index, delay) in delays.enumerated() {
                let attempt = index + 2
                let due = h.clock.now().addingTimeInterval(delay)
                try await expectPending(h, "crashy", attempt: attempt, at: due)

                // Just before the deadline nothing starts; the timer sleeps until it.
                h.clock.advance(by: delay - 0.5)
                try await eventually("the timer to sleep until the restart at +\(delay) s") {
                    h.clock.deadlines.contains(due)
                }
                await settle()
                #expect(await h.driver.startCount(named: "crashy") == starts, "restart \(attempt) came early")

                h.clock.advance(by: 0.5)
                starts += 1
                try await eventually("restart \(attempt) at +\(delay) s") {
                    await h.driver.startCount(named: "crashy") == starts
                }
                try await eventually("restart \(attempt) to be recorded") {
                    try await h.record("crashy").observed.restartCount == attempt
                }
            }
            // The cap holds.
            try await expectPending(h, "crashy", attempt: 10, at: h.clock.now().addingTimeInterval(300))

            // A run of 10 s is healthy: the sequence ends, and the next exit restarts at once.
            await h.driver.setExitAfterStart("crashy", nil)
            h.clock.advance(by: 300)
            starts += 1
            try await eventually("restart 10, which keeps running") {
                try await h.record("crashy").state == .running
            }
            #expect(await h.driver.startCount(named: "crashy") == starts)
            #expect(try await h.record("crashy").observed.restart?.attempt == 10)
            h.clock.advance(by: 10)
            try await eventually("the healthy run to end the sequence") {
                try await h.record("crashy").observed.restart == nil
            }
            let uuid = try await h.uuid("crashy")
            #expect(await h.driver.crash(uuid))
            starts += 1
            try await eventually("an immediate restart after a healthy run") {
                await h.driver.startCount(named: "crashy") == starts
            }
            try await eventually("the restarted instance to run") {
                let record = try await h.record("crashy")
                return record.state == .running && record.observed.restart == RestartSequence(attempt: 1, nextAt: h.clock.now())
            }
            #expect(await h.driver.crash(uuid))
            try await expectPending(h, "crashy", attempt: 2, at: h.clock.now().addingTimeInterval(5))

            // A manual start ends the sequence and resets the back-off.
            let restartsBefore = try await h.record("crashy").observed.restartCount
            _ = try await h.engine.start("crashy")
            starts += 1
            try await eventually("the manual start") {
                try await h.record("crashy").state == .running
            }
            let manual = try await h.record("crashy")
            #expect(manual.observed.restart == nil)
            #expect(manual.observed.restartCount == restartsBefore)
            #expect(await h.driver.startCount(named: "crashy") == starts)
            #expect(await h.driver.crash(uuid))
            starts += 1
            try await eventually("an immediate restart: the sequence started over") {
                await h.driver.startCount(named: "crashy") == starts
            }
            try await eventually("the restart to run") { try await h.record("crashy").state == .running }
            #expect(await h.driver.crash(uuid))
            try await expectPending(h, "crashy", attempt: 2, at: h.clock.now().addingTimeInterval(5))

            // A manual stop ends it: no start however long we wait.
            _ = try await h.engine.stop("crashy", StopRequest())
            let stopped = try await h.record("crashy")
            #expect(stopped.observed.restart == nil)
            #expect(stopped.desired.power == .stopped)
            #expect(await h.store.record(uuid)?.observed.restart == nil)
            h.clock.advance(by: 400)
            try await eventually("the timer to have nothing left to wait for") { h.clock.deadlines.isEmpty }
            await settle()
            #expect(await h.driver.startCount(named: "crashy") == starts)
            #expect(try await h.record("crashy").state == .stopped)
        }
    }

    @Test("on-failure restarts after a failure but not after exit code 0")
    func onFailure() async throws {
        try await withEngine { h in
            await h.driver.setExitAfterStart("clean", ExitStatus(code: 0, at: Date()))
            await h.driver.setExitAfterStart("broken", ExitStatus(code: 2, at: Date()))
            _ = try await h.engine.create([.named("clean", .onFailure), .named("broken", .onFailure)])

            try await eventually("the clean exit to be recorded") {
                try await h.record("clean").observed.lastExit?.code == 0
            }
            let clean = try await h.record("clean")
            #expect(clean.state == .stopped)
            #expect(clean.observed.restart == nil)
            #expect(clean.observed.stopReason == [.app, .kernel])
            #expect(clean.observed.message == "exited with code 0")

            try await eventually("the immediate restart after the failure") {
                await h.driver.startCount(named: "broken") == 2
            }
            try await expectPending(h, "broken", attempt: 2, at: h.clock.now().addingTimeInterval(5))
            #expect(try await h.record("broken").observed.lastExit?.code == 2)

            h.clock.advance(by: 5)
            try await eventually("the restart at +5 s") { await h.driver.startCount(named: "broken") == 3 }
            h.clock.advance(by: 600)
            await settle()
            #expect(await h.driver.startCount(named: "clean") == 1)
        }
    }

    @Test("a start that fails N times is retried with back-off; waitForStartOutcome sees the run")
    func failingStartsAreRetried() async throws {
        try await withEngine { h in
            await h.driver.script("stubborn", [.fail("no such file"), .fail("no such file")])
            let created = try await h.engine.create([.named("stubborn", .onFailure)])
            let uuid = try #require(created.first?.uuid)
            let outcome = Task { try await h.engine.waitForStartOutcome(uuid, timeout: .seconds(10)) }

            // Failure 1 restarts at once, failure 2 waits 5 s.
            try await expectPending(h, "stubborn", attempt: 2, at: h.clock.now().addingTimeInterval(5))
            let failed = try await h.record("stubborn")
            #expect(failed.observed.message == "failed to start instance: no such file")
            #expect(await h.driver.count(.start, uuid) == 2)

            h.clock.advance(by: 5)
            let record = try #require(try await outcome.value)
            #expect(record.state == .running)
            #expect(record.observed.startCount == 1)
            #expect(record.observed.restartCount == 1)
            #expect(await h.driver.count(.start, uuid) == 3)
        }
    }

    @Test("with restart policy never a failed start is final and waitForStartOutcome says so")
    func failedStartWithoutRestart() async throws {
        try await withEngine { h in
            await h.driver.script("once", [.fail("bad image")])
            let created = try await h.engine.create([.named("once")])
            let uuid = try #require(created.first?.uuid)
            let record = try #require(try await h.engine.waitForStartOutcome(uuid, timeout: .seconds(10)))
            #expect(record.state == .stopped)
            #expect(record.observed.restart == nil)
            #expect(record.observed.message == "failed to start instance: bad image")
            #expect(await h.store.record(uuid) == record)
        }
    }
}
