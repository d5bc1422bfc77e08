import CorralShimFormat
import Testing

struct ShimFormatTests {
    @Test func parametersRoundTripAnyBytesButNUL() throws {
        let parameters = ShimParameters(
            instanceDirectory: "/var/lib/corral/instances/x",
            executable: "/bin/sh",
            arguments: ["sh", "-c", "echo 'a b'\nprintf \"%s\" =", ""],
            environment: ["A=1", "MULTI=line\nline", "EMPTY="],
            workingDirectory: "/",
            cgroup2Directory: nil,
            cgroupJoin: ["/sys/fs/cgroup/memory/corral/x/tasks"],
            cgroupMembers: "/sys/fs/cgroup/memory/corral/x/cgroup.procs",
            freezerState: "/sys/fs/cgroup/freezer/corral/x/freezer.state",
            cgroupKill: nil,
            oomCounter: "/sys/fs/cgroup/memory/corral/x/memory.oom_control",
            logBound: 8 << 20
        )
        #expect(try ShimParameters.parse(parameters.encode()) == parameters)
        #expect(throws: ShimFormatError.self) { try ShimParameters.parse(Array("corral-shim-params 1\0exe\0".utf8)) }

        var lowered = parameters
        lowered.niceness = 19
        #expect(try ShimParameters.parse(lowered.encode()) == lowered)
        lowered.niceness = -5
        #expect(throws: ShimFormatError.self) { try ShimParameters.parse(lowered.encode()) }
    }

    @Test func exitRecordNeedsExactlyOneOutcome() throws {
        let record = ExitRecord(
            shimPID: 10, shimStartTime: 20, workloadPID: 11, termination: .signaled(signal: 9),
            oomKilled: true, timeNanoseconds: 1_700_000_000_000_000_000
        )
        #expect(try ExitRecord.parse(record.encode()) == record)
        let both = Array("corral-exit 1\nshim_pid 1\nshim_start 2\npid 3\ncode 0\nsignal 9\noom 0\ntime_ns 5\n".utf8)
        #expect(throws: ShimFormatError.self) { try ExitRecord.parse(both) }
    }

    @Test func readyMessageRoundTrips() throws {
        let started = ReadyMessage.started(
            shimPID: 1, shimStartTime: 2, workloadPID: 3, workloadStartTime: 4, execDoneMonotonicNanoseconds: 5
        )
        #expect(try ReadyMessage.parse(started.encode()) == started)
        let failed = ReadyMessage.failed(stage: "exec", errno: 2, message: "/x: No such file or directory")
        #expect(try ReadyMessage.parse(failed.encode()) == failed)
    }

    @Test func procStatSurvivesParenthesesInTheCommandName() {
        let line = "1234 (a) b (c)) S 1 1234 1234 0 -1 4194304 100 0 0 0 7 3 0 0 20 0 1 0 98765 1000 42 0 0\n"
        let stat = ProcStat.parse(Array(line.utf8))
        #expect(stat?.state == "S")
        #expect(stat?.parentPID == 1)
        #expect(stat?.processGroup == 1234)
        #expect(stat?.userTicks == 7)
        #expect(stat?.systemTicks == 3)
        #expect(stat?.startTime == 98765)
        #expect(stat?.residentPages == 42)
    }

    /// Rotation renames `log` to `log.1` before it rewrites the record; every crash
    /// point must still place the segments where they were.
    @Test func logSegmentsResolveAtEveryRotationStep() {
        // Settled: log (inode 2) starts at 500, log.1 (inode 1) holds 400 bytes before it.
        let settled = LogSegments.resolve(
            record: LogOffsetRecord(base: 500, inode: 2), current: (2, 100), previous: (1, 400)
        )
        #expect(settled.previous == .init(base: 100, size: 400))
        #expect(settled.current == .init(base: 500, size: 100))

        // Renamed, record not rewritten, new log not created yet.
        let renamed = LogSegments.resolve(record: LogOffsetRecord(base: 500, inode: 2), current: nil, previous: (2, 450))
        #expect(renamed.previous == .init(base: 500, size: 450))
        #expect(renamed.current == .init(base: 950, size: 0))

        // Renamed and new log (inode 3) created, record still naming the old inode.
        let created = LogSegments.resolve(
            record: LogOffsetRecord(base: 500, inode: 2), current: (3, 0), previous: (2, 450)
        )
        #expect(created.current == .init(base: 950, size: 0))

        // First rotation interrupted before any record was written.
        let first = LogSegments.resolve(record: nil, current: (5, 10), previous: (4, 500))
        #expect(first.previous == .init(base: 0, size: 500))
        #expect(first.current == .init(base: 500, size: 10))
        #expect(first.availableStart == 0)
        #expect(first.availableEnd == 510)
    }
}
