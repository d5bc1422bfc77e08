import CorralCore
import Foundation

/// The fixed "now" of the machine tests.
let t0 = Date(timeIntervalSince1970: 1_763_700_000)

func at(_ seconds: Double) -> Date {
    t0.addingTimeInterval(seconds)
}

/// The handle of the workload a record already has.
let h1 = DriverHandle(shimPID: 100, shimStartTime: 1_000, workloadPID: 101, workloadStartTime: 1_001)
/// The handle of a workload that a start or an adoption reports.
let h2 = DriverHandle(shimPID: 200, shimStartTime: 2_000, workloadPID: 201, workloadStartTime: 2_001)

let machine = InstanceMachine()

func status(code: Int32) -> CorralCore.ExitStatus { CorralCore.ExitStatus(code: code, at: t0) }
func status(signal: Int32) -> CorralCore.ExitStatus { CorralCore.ExitStatus(signal: signal, at: t0) }
let oomKill = CorralCore.ExitStatus(signal: 9, oomKilled: true, at: t0)

func started(_ handle: DriverHandle = h2) -> InstanceEvent {
    .started(StartedInstance(handle: handle, bootTimeMicroseconds: 1_500))
}

/// A record whose desired state matches `phase` the way it would in normal life:
/// stopped/stopping want stopped, starting/running want running, standby wants
/// suspended, deleting has a delete request. Generation 3, applied 2; one start
/// request, handled.
func record(
    in phase: Phase,
    policy: RestartPolicy = .never,
    features: [InstanceFeature] = []
) -> InstanceRecord {
    var r = InstanceRecord(
        uuid: UUID(uuidString: "6F1B2A9E-4C3D-4E5F-8A7B-1C2D3E4F5A6B") ?? UUID(),
        name: "web",
        createdAt: at(-3_600),
        spec: InstanceSpec(
            driver: "process",
            args: ["/bin/server"],
            memoryMB: 128,
            vcpus: 1,
            restartPolicy: policy,
            features: features
        ),
        desired: DesiredState(power: .running, startRequest: 1, generation: 3)
    )
    r.observed.phase = phase
    r.observed.appliedGeneration = 2
    r.observed.handledStartRequest = 1
    r.observed.startCount = 1
    r.observed.startedAt = at(-60)
    switch phase {
    case .stopped, .stopping:
        r.desired.power = .stopped
    case .starting, .running:
        r.desired.power = .running
    case .standby:
        r.desired.power = .suspended
    case .deleting:
        r.desired.power = .stopped
        r.desired.deleteRequested = true
    }
    return r
}

/// A short name for a phase, for test descriptions and coverage checks.
func kind(of phase: Phase) -> String {
    switch phase {
    case .stopped: "stopped"
    case .starting: "starting"
    case .running: "running"
    case .stopping: "stopping"
    case .standby: "standby"
    case .deleting: "deleting"
    }
}

/// A short name for an event kind, for test descriptions and coverage checks.
func kind(of event: InstanceEvent) -> String {
    switch event {
    case .reconcile: "reconcile"
    case .started: "started"
    case .startFailed: "startFailed"
    case .exited: "exited"
    case .adopted(.running): "adopted(running)"
    case .adopted(.exited): "adopted(exited)"
    case .adopted(.lost): "adopted(lost)"
    case .startInterrupted: "startInterrupted"
    case .destroyed: "destroyed"
    case .actionFailed: "actionFailed"
    }
}
