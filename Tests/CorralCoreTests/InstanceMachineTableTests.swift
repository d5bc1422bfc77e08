import CorralCore
import Foundation
import Testing

/// One row of the phase × event table: a record resting in a phase, an event, and
/// what the machine must make of it.
struct MachineRow: Sendable, CustomTestStringConvertible {
    var phase: Phase
    var event: InstanceEvent
    /// nil: the record is deleted.
    var expectedPhase: Phase?
    var expectedState: InstanceState?
    var expectedActions: [InstanceAction]

    var testDescription: String { "\(kind(of: phase)) + \(kind(of: event))" }
}

private let grace = Double(InstanceMachine().defaultGraceMilliseconds) / 1000
private let retry = InstanceMachine().retryAfterSeconds
private let stoppingPhase = Phase.stopping(handle: h1, killAt: at(5), initiator: .user, killed: false)

private let allEvents: [InstanceEvent] = [
    .reconcile,
    started(),
    .startFailed("exec /bin/server: no such file"),
    .exited(status(code: 1)),
    .adopted(.running(h2)),
    .adopted(.exited(status(code: 1))),
    .adopted(.lost(reason: "supervisor gone")),
    .startInterrupted,
    .destroyed,
    .actionFailed("failed to freeze instance: device busy"),
]

private let allPhases: [Phase] = [.stopped, .starting, .running(handle: h1), stoppingPhase, .standby(handle: h1), .deleting]

private func row(_ phase: Phase, _ event: InstanceEvent, _ expected: Phase?, _ actions: [InstanceAction]) -> MachineRow {
    MachineRow(phase: phase, event: event, expectedPhase: expected, expectedState: expected?.wireState, expectedActions: actions)
}

/// Every phase with every event kind, restart policy `never`.
let machineTable: [MachineRow] = {
    let e = allEvents
    let running = Phase.running(handle: h1)
    let standby = Phase.standby(handle: h1)
    return [
        // stopped, wanting stopped
        row(.stopped, e[0], .stopped, []),
        row(.stopped, e[1], .stopped, [.kill(h2)]),
        row(.stopped, e[2], .stopped, []),
        row(.stopped, e[3], .stopped, []),
        row(.stopped, e[4], .stopping(handle: h2, killAt: at(grace), initiator: .user, killed: false),
            [.terminate(h2), .wake(at: at(grace))]),
        row(.stopped, e[5], .stopped, []),
        row(.stopped, e[6], .stopped, [.cleanup]),
        row(.stopped, e[7], .stopped, []),
        row(.stopped, e[8], nil, []),
        row(.stopped, e[9], .stopped, []),

        // starting, wanting running
        row(.starting, e[0], .starting, []),
        row(.starting, e[1], .running(handle: h2), []),
        row(.starting, e[2], .stopped, []),
        row(.starting, e[3], .stopped, [.cleanup]),
        row(.starting, e[4], .running(handle: h2), []),
        row(.starting, e[5], .stopped, [.cleanup]),
        row(.starting, e[6], .stopped, [.cleanup]),
        row(.starting, e[7], .starting, [.cleanup, .start]),
        row(.starting, e[8], nil, []),
        row(.starting, e[9], .starting, []),

        // running, wanting running
        row(running, e[0], running, []),
        row(running, e[1], running, [.kill(h2)]),
        row(running, e[2], running, []),
        row(running, e[3], .stopped, [.cleanup]),
        row(running, e[4], .running(handle: h2), []),
        row(running, e[5], .stopped, [.cleanup]),
        row(running, e[6], .stopped, [.cleanup]),
        row(running, e[7], running, []),
        row(running, e[8], nil, []),
        row(running, e[9], running, []),

        // stopping within the grace, wanting stopped
        row(stoppingPhase, e[0], stoppingPhase, [.wake(at: at(5))]),
        row(stoppingPhase, e[1], stoppingPhase, [.kill(h2)]),
        row(stoppingPhase, e[2], stoppingPhase, [.wake(at: at(5))]),
        row(stoppingPhase, e[3], .stopped, [.cleanup]),
        row(stoppingPhase, e[4], .stopping(handle: h2, killAt: at(5), initiator: .user, killed: false), [.wake(at: at(5))]),
        row(stoppingPhase, e[5], .stopped, [.cleanup]),
        row(stoppingPhase, e[6], .stopped, [.cleanup]),
        row(stoppingPhase, e[7], stoppingPhase, [.wake(at: at(5))]),
        row(stoppingPhase, e[8], nil, []),
        row(stoppingPhase, e[9], stoppingPhase, [.wake(at: at(5))]),

        // standby, wanting suspended
        row(standby, e[0], standby, []),
        row(standby, e[1], standby, [.kill(h2)]),
        row(standby, e[2], standby, []),
        row(standby, e[3], .stopped, [.cleanup]),
        row(standby, e[4], .standby(handle: h2), []),
        row(standby, e[5], .stopped, [.cleanup]),
        row(standby, e[6], .stopped, [.cleanup]),
        row(standby, e[7], standby, []),
        row(standby, e[8], nil, []),
        row(standby, e[9], standby, []),

        // deleting
        row(.deleting, e[0], .deleting, [.destroy]),
        row(.deleting, e[1], .deleting, [.kill(h2)]),
        row(.deleting, e[2], .deleting, [.destroy]),
        row(.deleting, e[3], .deleting, [.destroy]),
        row(.deleting, e[4], .stopping(handle: h2, killAt: t0, initiator: .user, killed: true), [.kill(h2)]),
        row(.deleting, e[5], .deleting, [.destroy]),
        row(.deleting, e[6], .deleting, [.cleanup, .destroy]),
        row(.deleting, e[7], .deleting, [.destroy]),
        row(.deleting, e[8], nil, []),
        row(.deleting, e[9], .deleting, [.wake(at: at(retry))]),
    ]
}()

@Suite("InstanceMachine: phase × event table")
struct InstanceMachineTableTests {
    @Test("the table covers every phase with every event kind exactly once")
    func tableIsExhaustive() {
        let covered = machineTable.map { "\(kind(of: $0.phase)) + \(kind(of: $0.event))" }
        let expected = allPhases.flatMap { phase in allEvents.map { "\(kind(of: phase)) + \(kind(of: $0))" } }
        #expect(covered == expected)
        #expect(Set(covered).count == 60)
    }

    @Test(arguments: machineTable)
    func transition(_ row: MachineRow) {
        let before = record(in: row.phase)
        let result = machine.step(before, row.event, now: t0)

        #expect(result.record?.observed.phase == row.expectedPhase)
        #expect(result.record?.state == row.expectedState)
        #expect(result.actions == row.expectedActions)
        // Identity and desire are never the machine's to change.
        if let after = result.record {
            #expect(after.uuid == before.uuid)
            #expect(after.spec == before.spec)
            #expect(after.desired == before.desired)
        }
    }

    @Test(
        "an event that does not apply to the phase changes nothing but the applied generation",
        arguments: [
            (Phase.stopped, InstanceEvent.startFailed("late")),
            (.stopped, .exited(status(code: 1))),
            (.stopped, .startInterrupted),
            (.running(handle: h1), .startFailed("late")),
            (.running(handle: h1), .startInterrupted),
            (.standby(handle: h1), .startFailed("late")),
            (.standby(handle: h1), .startInterrupted),
            (stoppingPhase, .startFailed("late")),
            (stoppingPhase, .startInterrupted),
            (.deleting, .exited(status(code: 1))),
            (.deleting, .adopted(.exited(status(code: 1)))),
            (.deleting, .startFailed("late")),
        ]
    )
    func staleEventsChangeNothing(_ phase: Phase, _ event: InstanceEvent) throws {
        var before = record(in: phase)
        before.observed.message = "earlier note"
        before.observed.lastExit = status(code: 7)
        let result = machine.step(before, event, now: t0)

        var expected = before
        expected.observed.appliedGeneration = before.desired.generation
        #expect(try #require(result.record) == expected)
    }

    @Test("a start result for an instance that is not starting is undone and changes nothing else")
    func lateStartIsKilled() throws {
        for phase in allPhases where kind(of: phase) != "starting" {
            let before = record(in: phase)
            let result = machine.step(before, started(), now: t0)
            #expect(result.actions == [.kill(h2)])
            #expect(try #require(result.record) == before)
        }
    }

    @Test("reconciling a settled record twice gives the same result")
    func reconcileIsRepeatable() throws {
        for phase in allPhases {
            let first = machine.step(record(in: phase), .reconcile, now: t0)
            let second = machine.step(try #require(first.record), .reconcile, now: t0)
            #expect(second.record == first.record, "\(kind(of: phase))")
            #expect(second.actions.allSatisfy { action in
                if case .wake = action { return true }
                return action == .destroy
            })
        }
    }
}
