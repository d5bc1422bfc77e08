import CorralCore
import Foundation
import Testing

struct StopReasonRow: Sendable, CustomTestStringConvertible {
    var name: String
    /// Drives a record to the point where its workload exits, and returns it.
    var prepare: @Sendable () throws -> InstanceRecord
    var exit: CorralCore.ExitStatus
    var expected: Int

    var testDescription: String { "\(name) = \(expected)" }
}

/// Asks a running instance to stop (gracefully, or with `force`) and reconciles at t0.
private func userStop(force: Bool = false) throws -> InstanceRecord {
    var r = record(in: .running(handle: h1))
    r.desired.power = .stopped
    r.desired.stop = StopRequest(graceMilliseconds: 2_000, force: force)
    return try #require(machine.step(r, .reconcile, now: t0).record)
}

let stopReasonTable: [StopReasonRow] = [
    StopReasonRow(name: "user stop, exits within the grace", prepare: { try userStop() }, exit: status(code: 0), expected: 15),
    StopReasonRow(
        name: "user stop, killed after the grace",
        prepare: {
            let stopping = try userStop()
            let killed = machine.step(stopping, .reconcile, now: at(2))
            #expect(killed.actions == [.kill(h1)])
            return try #require(killed.record)
        },
        exit: status(signal: 9),
        expected: 13
    ),
    StopReasonRow(name: "forced stop", prepare: { try userStop(force: true) }, exit: status(signal: 9), expected: 28),
    StopReasonRow(name: "app exits on its own, code 0", prepare: { record(in: .running(handle: h1)) }, exit: status(code: 0), expected: 3),
    StopReasonRow(name: "app exits on its own, code 3", prepare: { record(in: .running(handle: h1)) }, exit: status(code: 3), expected: 3),
    StopReasonRow(name: "crash by signal", prepare: { record(in: .running(handle: h1)) }, exit: status(signal: 11), expected: 1),
    StopReasonRow(name: "OOM kill", prepare: { record(in: .running(handle: h1)) }, exit: oomKill, expected: 1),
    StopReasonRow(
        name: "delete while running",
        prepare: {
            var r = record(in: .running(handle: h1))
            r.desired.deleteRequested = true
            return try #require(machine.step(r, .reconcile, now: t0).record)
        },
        exit: status(signal: 9),
        expected: 28
    ),
]

@Suite("InstanceMachine: stop, delete, recovery")
struct InstanceMachineLifecycleTests {
    @Test(arguments: stopReasonTable)
    func stopReason(_ row: StopReasonRow) throws {
        let before = try row.prepare()
        let after = try #require(machine.step(before, .exited(row.exit), now: at(3)).record)
        #expect(after.observed.stopReason?.rawValue == row.expected)
        #expect(after.observed.phase.handle == nil)
        #expect(after.observed.lastExit == row.exit)
        #expect(after.observed.stoppedAt == at(3))
    }

    @Test("the stop bits are Unikraft Cloud's")
    func stopReasonBits() {
        #expect(StopReason.kernel.rawValue == 1)
        #expect(StopReason.app.rawValue == 2)
        #expect(StopReason.platform.rawValue == 4)
        #expect(StopReason.user.rawValue == 8)
        #expect(StopReason.forced.rawValue == 16)
    }

    @Test("a graceful stop terminates, waits out the grace, then kills")
    func gracefulStop() throws {
        let stopping = try userStop()
        #expect(stopping.observed.phase == .stopping(handle: h1, killAt: at(2), initiator: .user, killed: false))
        #expect(stopping.state == .stopping)
        #expect(machine.step(stopping, .reconcile, now: at(1)).actions == [.wake(at: at(2))])
        let killed = machine.step(stopping, .reconcile, now: at(2))
        #expect(killed.record?.observed.phase == .stopping(handle: h1, killAt: at(2), initiator: .user, killed: true))
        #expect(killed.actions == [.kill(h1)])
        // Killed once: later passes do not kill again.
        #expect(machine.step(try #require(killed.record), .reconcile, now: at(5)).actions == [])

        var r = record(in: .running(handle: h1))
        r.desired.power = .stopped
        let defaults = machine.step(r, .reconcile, now: t0)
        #expect(defaults.actions == [.terminate(h1), .wake(at: at(10))])
        r.desired.stop.force = true
        let forced = machine.step(r, .reconcile, now: t0)
        #expect(forced.actions == [.kill(h1)])
    }

    @Test("exit messages say what happened")
    func exitMessages() throws {
        let running = record(in: .running(handle: h1))
        #expect(machine.step(running, .exited(status(code: 3)), now: t0).record?.observed.message == "exited with code 3")
        #expect(machine.step(running, .exited(status(signal: 11)), now: t0).record?.observed.message == "killed by signal 11")
        #expect(
            machine.step(running, .exited(oomKill), now: t0).record?.observed.message
                == "killed by the kernel: out of memory (memory limit 128 MiB)"
        )
    }

    // MARK: - Delete

    @Test("delete while running kills at once, then destroys once the workload is gone")
    func deleteWhileRunning() throws {
        var r = record(in: .running(handle: h1), policy: .always)
        r.desired.deleteRequested = true
        var step = machine.step(r, .reconcile, now: t0)
        #expect(step.record?.observed.phase == .stopping(handle: h1, killAt: t0, initiator: .user, killed: true))
        #expect(step.record?.state == .stopping)
        #expect(step.actions == [.kill(h1)])

        step = machine.step(try #require(step.record), .exited(status(signal: 9)), now: at(1))
        #expect(step.record?.observed.phase == .deleting)
        #expect(step.record?.observed.restart == nil)
        #expect(step.actions == [.cleanup, .destroy])

        step = machine.step(try #require(step.record), .destroyed, now: at(2))
        #expect(step.record == nil)
        #expect(step.actions == [])
    }

    @Test("delete while standby kills the frozen workload")
    func deleteWhileStandby() throws {
        var r = record(in: .standby(handle: h1))
        r.desired.deleteRequested = true
        let step = machine.step(r, .reconcile, now: t0)
        #expect(step.record?.observed.phase == .stopping(handle: h1, killAt: t0, initiator: .user, killed: true))
        #expect(step.actions == [.kill(h1)])
        let gone = machine.step(try #require(step.record), .exited(status(signal: 9)), now: at(1))
        #expect(gone.record?.observed.stopReason?.rawValue == 28)
        #expect(gone.actions == [.cleanup, .destroy])
    }

    @Test("delete while stopping cuts the grace short; a workload already killed is not killed again")
    func deleteWhileStopping() throws {
        var r = try userStop()
        r.desired.deleteRequested = true
        let step = machine.step(r, .reconcile, now: at(1))
        #expect(step.record?.observed.phase == .stopping(handle: h1, killAt: at(1), initiator: .user, killed: true))
        #expect(step.actions == [.kill(h1)])
        #expect(machine.step(try #require(step.record), .reconcile, now: at(1.5)).actions == [])
        let gone = machine.step(try #require(step.record), .exited(status(signal: 9)), now: at(2))
        #expect(gone.actions == [.cleanup, .destroy])
        #expect(gone.record?.observed.stopReason?.rawValue == 28)
    }

    @Test("delete while stopped destroys at once and retries a failed destroy")
    func deleteWhileStopped() throws {
        var r = record(in: .stopped)
        r.desired.deleteRequested = true
        var step = machine.step(r, .reconcile, now: t0)
        #expect(step.record?.observed.phase == .deleting)
        #expect(step.record?.state == .stopping)
        #expect(step.actions == [.destroy])

        step = machine.step(try #require(step.record), .actionFailed("failed to destroy instance: busy"), now: at(1))
        #expect(step.record?.observed.message == "failed to destroy instance: busy")
        #expect(step.actions == [.wake(at: at(1 + 5))])
        step = machine.step(try #require(step.record), .reconcile, now: at(6))
        #expect(step.actions == [.destroy])
        #expect(machine.step(try #require(step.record), .destroyed, now: at(7)).record == nil)
    }

    @Test("delete while starting waits for the start, then kills what it started")
    func deleteWhileStarting() throws {
        var r = record(in: .starting)
        r.desired.deleteRequested = true
        let waiting = machine.step(r, .reconcile, now: t0)
        #expect(waiting.record?.observed.phase == .starting)
        #expect(waiting.actions == [])
        let step = machine.step(try #require(waiting.record), started(), now: at(1))
        #expect(step.record?.observed.phase == .stopping(handle: h2, killAt: at(1), initiator: .user, killed: true))
        #expect(step.actions == [.kill(h2)])
        let failed = machine.step(try #require(waiting.record), .startFailed("boom"), now: at(1))
        #expect(failed.record?.observed.phase == .deleting)
        #expect(failed.actions == [.destroy])
    }

    // MARK: - Delete on stop

    @Test(
        "delete-on-stop deletes the instance once it has stopped, with one destroy",
        arguments: [status(code: 0), status(code: 1), status(signal: 11), oomKill]
    )
    func deleteOnStopAfterExit(_ exit: CorralCore.ExitStatus) throws {
        let r = record(in: .running(handle: h1), features: [.deleteOnStop])
        let step = machine.step(r, .exited(exit), now: t0)
        #expect(step.record?.observed.phase == .deleting)
        #expect(step.record?.observed.lastExit == exit)
        #expect(step.actions == [.cleanup, .destroy])
    }

    @Test("delete-on-stop also applies to a user stop and to a lost instance")
    func deleteOnStopAfterStopOrLoss() throws {
        var stopping = try userStop()
        stopping.spec.features = [.deleteOnStop]
        let stopped = machine.step(stopping, .exited(status(code: 0)), now: at(1))
        #expect(stopped.record?.observed.phase == .deleting)
        #expect(stopped.record?.observed.stopReason?.rawValue == 15)
        #expect(stopped.actions == [.cleanup, .destroy])

        let running = record(in: .running(handle: h1), features: [.deleteOnStop])
        let lost = machine.step(running, .adopted(.lost(reason: "supervisor gone")), now: t0)
        #expect(lost.record?.observed.phase == .deleting)
        #expect(lost.actions == [.cleanup, .destroy])
    }

    // MARK: - Recovery after a daemon restart

    @Test("an interrupted start is cleaned up, then made again if still wanted")
    func startInterrupted() throws {
        var r = record(in: .starting)
        r.desired.generation = 9
        let again = machine.step(r, .startInterrupted, now: t0)
        #expect(again.record?.observed.phase == .starting)
        #expect(again.record?.observed.appliedGeneration == 9)
        #expect(again.actions == [.cleanup, .start])

        r.desired.power = .stopped
        let dropped = machine.step(r, .startInterrupted, now: t0)
        #expect(dropped.record?.observed.phase == .stopped)
        #expect(dropped.actions == [.cleanup])

        r.desired.power = .running
        r.desired.deleteRequested = true
        let deleted = machine.step(r, .startInterrupted, now: t0)
        #expect(deleted.record?.observed.phase == .deleting)
        #expect(deleted.actions == [.cleanup, .destroy])
    }

    @Test("adopting a live workload keeps its phase and takes the new handle")
    func adoptedRunning() throws {
        let running = machine.step(record(in: .running(handle: h1)), .adopted(.running(h2)), now: t0)
        #expect(running.record?.observed.phase == .running(handle: h2))
        #expect(running.actions == [])

        let standby = machine.step(record(in: .standby(handle: h1)), .adopted(.running(h2)), now: t0)
        #expect(standby.record?.observed.phase == .standby(handle: h2))
        #expect(standby.actions == [])

        // A stop whose grace ran out while the daemon was down is finished with a kill.
        let stopping = try userStop()
        let overdue = machine.step(stopping, .adopted(.running(h2)), now: at(30))
        #expect(overdue.record?.observed.phase == .stopping(handle: h2, killAt: at(2), initiator: .user, killed: true))
        #expect(overdue.actions == [.kill(h2)])
    }

    @Test("a workload that exited while the daemon was down is accounted as an exit")
    func adoptedExited() throws {
        let crashed = machine.step(record(in: .running(handle: h1), policy: .always), .adopted(.exited(status(code: 2))), now: t0)
        #expect(crashed.record?.observed.lastExit == status(code: 2))
        #expect(crashed.record?.observed.stopReason?.rawValue == 3)
        #expect(crashed.record?.observed.phase == .starting)
        #expect(crashed.actions == [.cleanup, .start])

        let stopped = machine.step(try userStop(), .adopted(.exited(status(code: 0))), now: at(1))
        #expect(stopped.record?.observed.stopReason?.rawValue == 15)
        #expect(stopped.record?.observed.phase == .stopped)
        #expect(stopped.actions == [.cleanup])
    }

    @Test("a lost workload is stopped, cleaned up and, when its policy says so, restarted")
    func adoptedLost() throws {
        let never = machine.step(record(in: .running(handle: h1)), .adopted(.lost(reason: "supervisor gone")), now: t0)
        #expect(never.record?.observed.phase == .stopped)
        #expect(never.record?.observed.message == "instance lost while the daemon was down: supervisor gone")
        #expect(never.record?.observed.stopReason == StopReason())
        #expect(never.actions == [.cleanup])

        for policy in [RestartPolicy.always, .onFailure] {
            let restarted = machine.step(
                record(in: .running(handle: h1), policy: policy),
                .adopted(.lost(reason: "host rebooted")),
                now: t0
            )
            #expect(restarted.record?.observed.phase == .starting)
            #expect(restarted.record?.observed.restart == RestartSequence(attempt: 1, nextAt: t0))
            #expect(restarted.actions == [.cleanup, .start])
        }

        // It was being stopped anyway: no restart.
        var stopping = try userStop()
        stopping.spec.restartPolicy = .always
        let stopped = machine.step(stopping, .adopted(.lost(reason: "supervisor gone")), now: at(1))
        #expect(stopped.record?.observed.phase == .stopped)
        #expect(stopped.actions == [.cleanup])
    }

    // MARK: - Bookkeeping

    @Test("every step that looks at the desired state records its generation", arguments: [
        Phase.stopped, .starting, .running(handle: h1), .stopping(handle: h1, killAt: at(5), initiator: .user, killed: false),
        .standby(handle: h1), .deleting,
    ])
    func appliedGeneration(_ phase: Phase) throws {
        var r = record(in: phase)
        r.desired.generation = 11
        let step = machine.step(r, .reconcile, now: t0)
        #expect(step.record?.observed.appliedGeneration == 11)
        let failed = machine.step(r, .actionFailed("x"), now: t0)
        if case .deleting = phase {
            #expect(failed.record?.observed.appliedGeneration == 2)
        } else {
            #expect(failed.record?.observed.appliedGeneration == 11)
        }
    }

    @Test("a kill that failed during a stop is tried again after the retry delay")
    func failedKillIsRetried() throws {
        var r = record(in: .stopping(handle: h1, killAt: t0, initiator: .user, killed: true))
        r.desired.power = .stopped
        let failed = machine.step(r, .actionFailed("failed to kill instance: operation not permitted"), now: t0)
        let retryAt = t0.addingTimeInterval(machine.retryAfterSeconds)
        #expect(failed.record?.observed.phase == .stopping(handle: h1, killAt: retryAt, initiator: .user, killed: false))
        #expect(failed.actions == [.wake(at: retryAt)])
        let again = machine.step(try #require(failed.record), .reconcile, now: retryAt)
        #expect(again.actions == [.kill(h1)])
        #expect(again.record?.observed.phase == .stopping(handle: h1, killAt: retryAt, initiator: .user, killed: true))
    }

    @Test("a start request is handled once: by starting a stopped instance, as a no-op on a running one")
    func startRequestBookkeeping() throws {
        var stopped = record(in: .stopped)
        stopped.desired.power = .running
        stopped.desired.startRequest = 2
        let start = machine.step(stopped, .reconcile, now: t0)
        #expect(start.actions == [.start])
        #expect(start.record?.observed.handledStartRequest == 2)

        var running = record(in: .running(handle: h1))
        running.desired.startRequest = 2
        let noop = machine.step(running, .reconcile, now: t0)
        #expect(noop.actions == [])
        #expect(noop.record?.observed.handledStartRequest == 2)

        // An instance that ended on its own stays down until the next explicit start.
        let exited = try #require(machine.step(record(in: .running(handle: h1)), .exited(status(code: 0)), now: t0).record)
        #expect(machine.step(exited, .reconcile, now: at(1)).actions == [])
        var restartRequested = exited
        restartRequested.desired.startRequest += 1
        #expect(machine.step(restartRequested, .reconcile, now: at(1)).actions == [.start])
    }

    @Test("a successful start records its facts and clears the last stop")
    func startedBookkeeping() throws {
        var r = record(in: .starting)
        r.observed.message = "failed to start instance: earlier"
        r.observed.stopReason = [.app, .kernel]
        r.observed.lastExit = status(code: 1)
        let after = try #require(machine.step(r, started(), now: t0).record)
        #expect(after.observed.startCount == 2)
        #expect(after.observed.restartCount == 0)
        #expect(after.observed.startedAt == t0)
        #expect(after.observed.bootTimeMicroseconds == 1_500)
        #expect(after.observed.message == nil)
        #expect(after.observed.stopReason == nil)
        #expect(after.observed.lastExit == nil)
    }

    @Test("suspend freezes a running instance; start thaws it; stop thaws, then terminates")
    func suspendAndResume() throws {
        var running = record(in: .running(handle: h1))
        running.desired.power = .suspended
        let frozen = machine.step(running, .reconcile, now: t0)
        #expect(frozen.record?.observed.phase == .standby(handle: h1))
        #expect(frozen.record?.state == .standby)
        #expect(frozen.actions == [.freeze(h1)])

        var resumed = try #require(frozen.record)
        resumed.desired.power = .running
        let thawed = machine.step(resumed, .reconcile, now: t0)
        #expect(thawed.record?.observed.phase == .running(handle: h1))
        #expect(thawed.actions == [.thaw(h1)])

        var stopped = try #require(frozen.record)
        stopped.desired.power = .stopped
        let stopping = machine.step(stopped, .reconcile, now: t0)
        #expect(stopping.actions == [.thaw(h1), .terminate(h1), .wake(at: at(10))])
        #expect(stopping.record?.state == .stopping)
    }
}
