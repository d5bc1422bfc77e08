import CorralCore
import CorralDriverProcess
import CorralHost
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension ProcessDriverTests {
    @Test func adoptAfterRestartReportsRunningAndLaterTheExit() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["/bin/sleep", "60"])
            fixture.driver.shutdown()

            let sink = CollectingSink()
            let restarted = fixture.restartedDriver(sink: sink)
            let result = await restarted.adopt(uuid, handle: started.handle)
            #expect(result == .running(started.handle))
            #expect(await restarted.adopt(uuid, handle: started.handle) == .running(started.handle))

            try await restarted.terminate(uuid, handle: started.handle)
            let status = try #require(await sink.waitForExit(uuid))
            #expect(status.signal == SIGTERM)
            try await Task.sleep(for: .milliseconds(100))
            #expect(sink.reported(uuid).count == 1)
            #expect(fixture.sink.reported(uuid).isEmpty)
            try await restarted.destroy(uuid)
        }
    }

    @Test func adoptAfterTheWorkloadEndedUnwatchedReturnsItsExit() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["/bin/sh", "-c", "sleep 0.2; exit 7"])
            fixture.driver.shutdown()
            #expect(await eventually {
                !HostProcess.isAlive(pid: started.handle.shimPID, startTime: started.handle.shimStartTime)
            })

            let sink = CollectingSink()
            let restarted = fixture.restartedDriver(sink: sink)
            let result = await restarted.adopt(uuid, handle: started.handle)
            guard case .exited(let status) = result else {
                Issue.record("expected an exit, got \(result)")
                return
            }
            #expect(status.code == 7)
            #expect(sink.reported(uuid).isEmpty)
        }
    }

    @Test func adoptWithoutShimOrRecordKillsTheRemainsAndReportsLost() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["/bin/sleep", "60"])
            fixture.driver.shutdown()
            Glibc.kill(started.handle.shimPID, SIGKILL)
            #expect(await eventually {
                !HostProcess.isAlive(pid: started.handle.shimPID, startTime: started.handle.shimStartTime)
            })
            // The workload outlives its supervisor until someone acts.
            #expect(HostProcess.isAlive(pid: started.handle.workloadPID, startTime: started.handle.workloadStartTime))

            let restarted = fixture.restartedDriver(sink: CollectingSink())
            let result = await restarted.adopt(uuid, handle: started.handle)
            guard case .lost(let reason) = result else {
                Issue.record("expected lost, got \(result)")
                return
            }
            #expect(reason.contains("corral-shim"))
            #expect(await eventually {
                !HostProcess.isAlive(pid: started.handle.workloadPID, startTime: started.handle.workloadStartTime)
            })
        }
    }

    @Test func shimKilledWhileWatchedIsReportedOnceAsKilled() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["/bin/sleep", "60"])
            Glibc.kill(started.handle.shimPID, SIGKILL)
            let status = try #require(await fixture.sink.waitForExit(uuid))
            #expect(status.signal == SIGKILL)
            #expect(await eventually {
                !HostProcess.isAlive(pid: started.handle.workloadPID, startTime: started.handle.workloadStartTime)
            })
            #expect(fixture.sink.reported(uuid).count == 1)
        }
    }

    @Test func adoptNeverTrustsAReusedPid() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["/bin/sleep", "60"])
            fixture.driver.shutdown()
            var forged = started.handle
            forged.shimStartTime += 1
            let restarted = fixture.restartedDriver(sink: CollectingSink())
            let result = await restarted.adopt(uuid, handle: forged)
            guard case .lost = result else {
                Issue.record("a handle with the wrong start time was adopted: \(result)")
                return
            }
        }
    }
}
