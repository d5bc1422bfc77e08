import CorralCore
import Foundation
import Testing

/// A running instance that wants to run, with `policy`, started at `startedAt`.
private func runningRecord(policy: RestartPolicy, startedAt: Date = at(-60)) -> InstanceRecord {
    var r = record(in: .running(handle: h1), policy: policy)
    r.observed.startedAt = startedAt
    return r
}

struct PolicyRow: Sendable, CustomTestStringConvertible {
    var policy: RestartPolicy
    var exit: CorralCore.ExitStatus
    var exitName: String
    var restarts: Bool

    var testDescription: String { "\(policy.rawValue) after \(exitName) → \(restarts ? "restart" : "stay stopped")" }
}

private let exits: [(CorralCore.ExitStatus, String, failed: Bool)] = [
    (status(code: 0), "exit code 0", false),
    (status(code: 2), "exit code 2", true),
    (status(signal: 11), "signal 11", true),
    (oomKill, "OOM kill", true),
]

let policyTable: [PolicyRow] = RestartPolicy.allCases.flatMap { policy in
    exits.map { exit, name, failed in
        let restarts = switch policy {
        case .never: false
        case .always: true
        case .onFailure: failed
        }
        return PolicyRow(policy: policy, exit: exit, exitName: name, restarts: restarts)
    }
}

@Suite("InstanceMachine: restart policy and back-off")
struct InstanceMachineRestartTests {
    @Test(arguments: policyTable)
    func policyDecidesRestart(_ row: PolicyRow) throws {
        let result = machine.step(runningRecord(policy: row.policy), .exited(row.exit), now: t0)
        let after = try #require(result.record)

        if row.restarts {
            // The first restart of a sequence is immediate.
            #expect(after.observed.phase == .starting)
            #expect(result.actions == [.cleanup, .start])
            #expect(after.observed.restart == RestartSequence(attempt: 1, nextAt: t0))
        } else {
            #expect(after.observed.phase == .stopped)
            #expect(result.actions == [.cleanup])
            #expect(after.observed.restart == nil)
        }
        #expect(after.observed.lastExit == row.exit)
    }

    @Test("back-off runs immediate, 5, 10, 20, 40 … capped at 300 s while crashes come quickly")
    func backoffSequence() throws {
        var r = runningRecord(policy: .always)
        var now = t0
        var delays: [Double] = []
        for round in 1...11 {
            now = now.addingTimeInterval(1)
            var step = machine.step(r, .exited(status(code: 1)), now: now)
            r = try #require(step.record)
            let restart = try #require(r.observed.restart)
            #expect(restart.attempt == round)
            let delay = restart.nextAt.timeIntervalSince(now)
            delays.append(delay)
            if delay == 0 {
                #expect(step.actions == [.cleanup, .start])
            } else {
                #expect(step.actions == [.cleanup, .wake(at: restart.nextAt)])
                #expect(r.observed.phase == .stopped)
                // An early wake-up does not start it.
                let early = machine.step(r, .reconcile, now: restart.nextAt.addingTimeInterval(-0.5))
                #expect(early.actions == [.wake(at: restart.nextAt)])
                now = restart.nextAt
                step = machine.step(r, .reconcile, now: now)
                #expect(step.actions == [.start])
                r = try #require(step.record)
            }
            #expect(r.observed.phase == .starting)
            step = machine.step(r, started(), now: now)
            r = try #require(step.record)
            #expect(r.observed.phase == .running(handle: h2))
            #expect(r.observed.restartCount == round)
            // The sequence ends if this run stays up for 10 s.
            #expect(step.actions == [.wake(at: now.addingTimeInterval(10))])
        }
        #expect(delays == [0, 5, 10, 20, 40, 80, 160, 300, 300, 300, 300])
    }

    @Test("10 s of healthy running ends the sequence: the next crash restarts at once")
    func healthyRunResetsBackoff() throws {
        var r = runningRecord(policy: .always, startedAt: t0)
        r.observed.restart = RestartSequence(attempt: 4, nextAt: t0)

        // Still inside the healthy window: nothing changes but the pending wake-up.
        let early = machine.step(r, .reconcile, now: at(9))
        #expect(early.record?.observed.restart == r.observed.restart)
        #expect(early.actions == [.wake(at: at(10))])

        // The wake-up at 10 s ends the sequence.
        let healthy = machine.step(r, .reconcile, now: at(10))
        #expect(healthy.record?.observed.restart == nil)
        #expect(healthy.actions == [])
        let crash = machine.step(try #require(healthy.record), .exited(status(code: 1)), now: at(30))
        #expect(crash.record?.observed.restart == RestartSequence(attempt: 1, nextAt: at(30)))
        #expect(crash.actions == [.cleanup, .start])
    }

    @Test("a crash after 10 s resets the back-off even if no wake-up ran; one before 10 s does not")
    func runLengthDecidesReset() throws {
        var r = runningRecord(policy: .always, startedAt: t0)
        r.observed.restart = RestartSequence(attempt: 4, nextAt: t0)

        let late = machine.step(r, .exited(status(code: 1)), now: at(10))
        #expect(late.record?.observed.restart == RestartSequence(attempt: 1, nextAt: at(10)))

        let soon = machine.step(r, .exited(status(code: 1)), now: at(9.9))
        let retryAt = at(9.9).addingTimeInterval(40)
        #expect(soon.record?.observed.restart == RestartSequence(attempt: 5, nextAt: retryAt))
        #expect(soon.actions == [.cleanup, .wake(at: retryAt)])
    }

    @Test("failed restarts keep backing off instead of retrying at once forever")
    func failedStartsBackOff() throws {
        // Ran for a minute, then crashed: the sequence starts with an immediate restart.
        var step = machine.step(runningRecord(policy: .always), .exited(status(code: 1)), now: t0)
        var r = try #require(step.record)
        #expect(step.actions == [.cleanup, .start])
        var now = t0
        var delays: [Double] = []
        for _ in 1...5 {
            step = machine.step(r, .startFailed("image missing"), now: now)
            r = try #require(step.record)
            let restart = try #require(r.observed.restart)
            delays.append(restart.nextAt.timeIntervalSince(now))
            #expect(r.observed.message == "failed to start instance: image missing")
            now = restart.nextAt
            step = machine.step(r, .reconcile, now: now)
            r = try #require(step.record)
            #expect(step.actions == [.start])
        }
        #expect(delays == [5, 10, 20, 40, 80])
        #expect(r.observed.restartCount == 0)
    }

    @Test("a manual start ends the sequence: it starts at once and a later crash begins anew")
    func manualStartEndsSequence() throws {
        var r = record(in: .stopped, policy: .always)
        r.desired.power = .running
        r.observed.restart = RestartSequence(attempt: 6, nextAt: at(80))
        r.observed.restartCount = 5
        r.desired.startRequest = 2
        r.desired.generation = 4

        var step = machine.step(r, .reconcile, now: t0)
        r = try #require(step.record)
        #expect(step.actions == [.start])
        #expect(r.observed.restart == nil)
        #expect(r.observed.handledStartRequest == 2)

        step = machine.step(r, started(), now: t0)
        r = try #require(step.record)
        #expect(step.actions == [])
        #expect(r.observed.restartCount == 5)
        #expect(r.observed.startCount == 2)

        step = machine.step(r, .exited(status(code: 1)), now: at(1))
        #expect(step.record?.observed.restart == RestartSequence(attempt: 1, nextAt: at(1)))
        #expect(step.actions == [.cleanup, .start])
    }

    @Test("a manual stop ends the sequence: no restart, no wake-up")
    func manualStopEndsSequence() throws {
        var waiting = record(in: .stopped, policy: .always)
        waiting.observed.restart = RestartSequence(attempt: 3, nextAt: at(10))
        waiting.desired.power = .stopped
        let step = machine.step(waiting, .reconcile, now: t0)
        #expect(step.record?.observed.restart == nil)
        #expect(step.actions == [])
        let later = machine.step(try #require(step.record), .reconcile, now: at(10))
        #expect(later.actions == [])

        // Stopped while running inside a sequence: the exit does not restart it.
        var running = runningRecord(policy: .always, startedAt: t0)
        running.observed.restart = RestartSequence(attempt: 2, nextAt: t0)
        running.desired.power = .stopped
        var stop = machine.step(running, .reconcile, now: at(1))
        #expect(stop.record?.observed.restart == nil)
        stop = machine.step(try #require(stop.record), .exited(status(code: 0)), now: at(2))
        #expect(stop.record?.observed.phase == .stopped)
        #expect(stop.record?.observed.restart == nil)
        #expect(stop.actions == [.cleanup])
    }

    @Test("a restart is not made for an instance that is to be deleted")
    func noRestartWhenDeleting() throws {
        var r = runningRecord(policy: .always)
        r.desired.deleteRequested = true
        let step = machine.step(r, .exited(status(code: 1)), now: t0)
        #expect(step.record?.observed.phase == .deleting)
        #expect(step.actions == [.cleanup, .destroy])
    }
}

@Suite("RestartBackoff")
struct RestartBackoffTests {
    @Test(arguments: [(Int, Double)]([
        (0, 0), (1, 0), (2, 5), (3, 10), (4, 20), (5, 40), (6, 80), (7, 160), (8, 300), (9, 300), (50, 300),
        (Int.max, 300), (-3, 0),
    ]))
    func delay(attempt: Int, seconds: Double) {
        #expect(RestartBackoff.delaySeconds(attempt: attempt) == seconds)
    }

    @Test func constants() {
        #expect(RestartBackoff.healthyAfterSeconds == 10)
        #expect(RestartBackoff.capSeconds == 300)
    }
}
