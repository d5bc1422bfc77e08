import CorralCore
import Foundation

/// A fresh directory under the system's temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("corral-store-tests-\(UUID().uuidString.lowercased())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Dates that survive the 1970-based JSON encoding bit for bit.
func date(_ secondsSince1970: Double) -> Date {
    Date(timeIntervalSince1970: secondsSince1970)
}

let sampleHandle = DriverHandle(
    shimPID: 4242,
    shimStartTime: 987_654_321,
    workloadPID: 4243,
    workloadStartTime: 987_654_399,
    attributes: ["cgroup": "/sys/fs/cgroup/corral/web", "socket": "/run/corral/web.sock"]
)

/// A record with every field set, in `phase`.
func fullRecord(name: String, phase: Phase, createdAt: Double = 1_763_700_000.125) -> InstanceRecord {
    let spec = InstanceSpec(
        driver: "process",
        image: "docker.io/library/busybox@sha256:" + String(repeating: "ab", count: 32),
        args: ["/bin/sh", "-c", "echo 'hello' && sleep 100"],
        env: ["PATH": "/usr/bin:/bin", "GREETING": "héllo wörld ✓"],
        memoryMB: 256,
        vcpus: 2,
        restartPolicy: .onFailure,
        features: [],
        tags: ["tier=web", "team=core"],
        annotations: ["corral.dev/owner": "ops"],
        deleteLock: true
    )
    var record = InstanceRecord(
        uuid: UUID(),
        name: name,
        createdAt: date(createdAt),
        spec: spec,
        desired: DesiredState(
            power: .stopped,
            startRequest: 3,
            stop: StopRequest(graceMilliseconds: 2_500, force: false),
            deleteRequested: false,
            generation: 7
        )
    )
    record.observed.phase = phase
    record.observed.appliedGeneration = 6
    record.observed.handledStartRequest = 3
    record.observed.startCount = 5
    record.observed.restartCount = 2
    record.observed.startedAt = date(1_763_700_010.5)
    record.observed.stoppedAt = date(1_763_700_020.25)
    record.observed.bootTimeMicroseconds = 12_345
    record.observed.lastExit = CorralCore.ExitStatus(code: 3, signal: nil, oomKilled: false, at: date(1_763_700_020.25))
    record.observed.stopReason = [.app, .kernel]
    record.observed.restart = RestartSequence(attempt: 3, nextAt: date(1_763_700_030.0625))
    record.observed.message = "exited with code 3"
    return record
}

/// One record per phase, each with a distinct creation time so that `load()`
/// returns them in this order.
func recordsInEveryPhase() -> [InstanceRecord] {
    let phases: [Phase] = [
        .stopped,
        .starting,
        .running(handle: sampleHandle),
        .stopping(handle: sampleHandle, killAt: date(1_763_700_040.5), initiator: .user, killed: false),
        .stopping(handle: sampleHandle, killAt: date(1_763_700_041), initiator: .platform, killed: true),
        .standby(handle: sampleHandle),
        .deleting,
    ]
    return phases.enumerated().map { index, phase in
        fullRecord(name: "phase-\(index)", phase: phase, createdAt: 1_763_700_000.125 + Double(index))
    }
}
