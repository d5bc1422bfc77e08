import CorralCore
import CorralDriverProcess
import CorralHost
import CorralShimFormat
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Real processes in real cgroups; serialized because they share the two cores and
/// some measure time.
@Suite(.serialized, .enabled(if: TestHost.canRun, "needs root, writable cgroups and a built corral-shim"))
struct ProcessDriverTests {
    @Test func exitCodeAndBothStreamsReachSinkAndLog() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["/bin/sh", "-c", "echo hi; echo err >&2; exit 3"])
            #expect(started.handle.workloadPID > 0)
            #expect(started.bootTimeMicroseconds > 0)
            let status = try #require(await fixture.sink.waitForExit(uuid))
            #expect(status.code == 3)
            #expect(status.signal == nil)
            #expect(!status.oomKilled)

            let log = try await fixture.driver.readLog(uuid, offset: nil, limit: 1000)
            #expect(String(decoding: log.bytes, as: UTF8.self) == "hi\nerr\n")
            #expect(log.availableStart == 0)
            #expect(log.availableEnd == 7)
            #expect(log.rangeStart == 0)

            try await Task.sleep(for: .milliseconds(100))
            #expect(fixture.sink.reported(uuid).count == 1)
        }
    }

    @Test func commandIsResolvedOnPath() async throws {
        try await withFixture { fixture in
            let (uuid, _) = try await fixture.start(["echo", "from", "path"])
            let status = try #require(await fixture.sink.waitForExit(uuid))
            #expect(status.code == 0)
            let log = try await fixture.driver.readLog(uuid, offset: 0, limit: 100)
            #expect(String(decoding: log.bytes, as: UTF8.self) == "from path\n")
        }
    }

    @Test func validationNamesArgsAndMissingCommands() async throws {
        try await withFixture { fixture in
            #expect(throws: CorralError.self) { try fixture.driver.validate(fixture.spec([])) }
            do throws(CorralError) {
                try fixture.driver.validate(fixture.spec([]))
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains("args"))
            }
            do throws(CorralError) {
                try fixture.driver.validate(fixture.spec(["no-such-command-corral"]))
                Issue.record("validate accepted a missing command")
            } catch {
                #expect(error.message.contains("no-such-command-corral: command not found"))
            }
            do throws(CorralError) {
                try fixture.driver.validate(fixture.spec(["bin/sh"]))
                Issue.record("validate accepted a relative path")
            } catch {
                #expect(error.code == .invalidArgument)
            }
            try fixture.driver.validate(fixture.spec(["sh", "-c", "true"]))

            let uuid = UUID()
            do {
                _ = try await fixture.start(["no-such-command-corral"], uuid: uuid)
                Issue.record("start accepted a missing command")
            } catch let error as CorralError {
                #expect(error.code == .invalidArgument)
                #expect(error.message == "failed to start instance: no-such-command-corral: command not found")
            }
            #expect(!FileManager.default.fileExists(atPath: fixture.instanceDirectory(uuid)))
        }
    }

    @Test func failedExecLeavesNothingBehind() async throws {
        try await withFixture { fixture in
            let program = fixture.stateDirectory + "/not-a-program"
            try RawFile.writeAtomically(program, [0x00, 0x01, 0x02, 0x03], durable: false, mode: 0o755)
            let uuid = UUID()
            do {
                _ = try await fixture.start([program], uuid: uuid)
                Issue.record("start of a non-executable file succeeded")
            } catch let error as CorralError {
                #expect(error.code == .invalidArgument)
                #expect(error.message.hasPrefix("failed to start instance: \(program): "))
            }
            #expect(!FileManager.default.fileExists(atPath: fixture.instanceDirectory(uuid)))
            #expect(!fixture.cgroup(uuid).exists)
            #expect(fixture.sink.reported(uuid).isEmpty)
        }
    }

    @Test func memoryLimitIsEnforcedAndReportedAsOOM() async throws {
        guard let python = ExecutableLookup.resolve("python3") else {
            print("skipping OOM test: python3 not found")
            return
        }
        try await withFixture { fixture in
            let (uuid, _) = try await fixture.start(
                [python, "-c", "b = b'x' * (200 * 1024 * 1024); print('survived')"], memoryMB: 32
            )
            let status = try #require(await fixture.sink.waitForExit(uuid, timeout: .seconds(20)))
            #expect(status.signal == SIGKILL)
            #expect(status.oomKilled)
            let log = try await fixture.driver.readLog(uuid, offset: nil, limit: 1000)
            #expect(!String(decoding: log.bytes, as: UTF8.self).contains("survived"))
        }
    }

    @Test func terminateEndsPlainWorkload() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["/bin/sleep", "60"])
            try await fixture.driver.terminate(uuid, handle: started.handle)
            let status = try #require(await fixture.sink.waitForExit(uuid, timeout: Duration.seconds(5)))
            #expect(status.signal == SIGTERM)
        }
    }

    @Test func workloadIgnoringTermSurvivesTerminateAndDiesByKill() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["/bin/sh", "-c", "trap '' TERM; echo trapped; sleep 60; exit 0"])
            #expect(await eventually { fixture.logText(uuid) == "trapped\n" })
            try await fixture.driver.terminate(uuid, handle: started.handle)
            try await Task.sleep(for: .milliseconds(500))
            #expect(fixture.sink.reported(uuid).isEmpty)
            #expect(HostProcess.isAlive(pid: started.handle.workloadPID, startTime: started.handle.workloadStartTime))

            try await fixture.driver.kill(uuid, handle: started.handle)
            let status = try #require(await fixture.sink.waitForExit(uuid, timeout: Duration.seconds(5)))
            #expect(status.signal == SIGKILL)
            #expect(!status.oomKilled)
            #expect(fixture.cgroup(uuid).isEmpty())
        }
    }

    @Test func killReachesProcessesThatLeftTheProcessGroup() async throws {
        try await withFixture { fixture in
            // The grandchild starts its own session, out of reach of a group signal.
            let (uuid, started) = try await fixture.start([
                "/bin/sh", "-c", "setsid sleep 60 & sleep 60",
            ])
            #expect(await eventually { fixture.cgroup(uuid).members().count >= 3 })
            try await fixture.driver.kill(uuid, handle: started.handle)
            _ = try #require(await fixture.sink.waitForExit(uuid))
            #expect(await eventually { fixture.cgroup(uuid).isEmpty() })
        }
    }

    @Test func cleanupAndDestroyLeaveNoCgroupOrDirectory() async throws {
        try await withFixture { fixture in
            let (uuid, _) = try await fixture.start(["/bin/sh", "-c", "echo kept"])
            _ = try #require(await fixture.sink.waitForExit(uuid))
            let cgroup = fixture.cgroup(uuid)
            #expect(cgroup.exists)

            try await fixture.driver.cleanup(uuid)
            #expect(!cgroup.exists)
            for directory in cgroup.directories { #expect(!FileManager.default.fileExists(atPath: directory)) }
            let directory = fixture.instanceDirectory(uuid)
            let remaining = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
            #expect(remaining == ["log", "log.offset"])
            let log = try await fixture.driver.readLog(uuid, offset: 0, limit: 100)
            #expect(String(decoding: log.bytes, as: UTF8.self) == "kept\n")

            try await fixture.driver.cleanup(uuid)
            try await fixture.driver.destroy(uuid)
            #expect(!FileManager.default.fileExists(atPath: directory))
            try await fixture.driver.destroy(uuid)
        }
    }

    @Test func cleanupOfRunningInstanceKillsItFirst() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["/bin/sleep", "60"])
            try await fixture.driver.destroy(uuid)
            #expect(!fixture.cgroup(uuid).exists)
            #expect(!HostProcess.isAlive(pid: started.handle.workloadPID, startTime: started.handle.workloadStartTime))
            #expect(!FileManager.default.fileExists(atPath: fixture.instanceDirectory(uuid)))
            #expect(fixture.sink.reported(uuid).count == 1)
        }
    }

    @Test func startWhileRunningIsAConflict() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["/bin/sleep", "60"])
            do {
                _ = try await fixture.start(["/bin/sleep", "60"], uuid: uuid)
                Issue.record("second start of a running instance succeeded")
            } catch let error as CorralError {
                #expect(error.code == .conflict)
            }
            try await fixture.driver.kill(uuid, handle: started.handle)
            _ = try #require(await fixture.sink.waitForExit(uuid))
        }
    }
}
