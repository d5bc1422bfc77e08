import CorralCore
import CorralDriverContainer
import CorralHost
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension ContainerDriverTests {
    @Test func aRestartedDriverAdoptsTheRunningContainer() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["sh", "-c", "trap 'exit 5' TERM; while true; do sleep 0.05; done"])
            fixture.driver.shutdown()

            let sink = CollectingSink()
            let restarted = fixture.restartedDriver(sink: sink)
            #expect(await restarted.adopt(uuid, handle: started.handle) == .running(started.handle))
            let result = try await restarted.exec(uuid, handle: started.handle, request: ExecRequest(command: ["echo", "still-here"]))
            #expect(String(decoding: result.stdout, as: UTF8.self) == "still-here\n")

            try await restarted.terminate(uuid, handle: started.handle)
            let status = try #require(await sink.waitForExit(uuid))
            #expect(status.code == 5)
            #expect(fixture.sink.reported(uuid).isEmpty)
            try await restarted.destroy(uuid)
            #expect(!FileManager.default.fileExists(atPath: fixture.instanceDirectory(uuid)))
        }
    }

    @Test func cleanupAndDestroyLeaveNoMountCgroupOrCrunState() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["sleep", "60"])
            let directory = fixture.instanceDirectory(uuid)
            let shimMounts = try String(contentsOfFile: "/proc/\(started.handle.shimPID)/mountinfo", encoding: .utf8)
            #expect(shimMounts.contains("\(directory)/bundle/rootfs"))
            #expect(try !String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8).contains(fixture.stateDirectory))
            #expect(FileManager.default.fileExists(atPath: fixture.crunState(uuid)))
            #expect(!fixture.cgroupDirectories(uuid).isEmpty)

            try await fixture.driver.writeFile(uuid, handle: started.handle, path: "/kept", contents: [1], mode: 0o644)
            try await fixture.driver.kill(uuid, handle: started.handle)
            #expect(await fixture.sink.waitForExit(uuid) != nil)
            try await fixture.driver.cleanup(uuid)
            #expect(!HostProcess.isAlive(pid: started.handle.shimPID, startTime: started.handle.shimStartTime))
            #expect(!FileManager.default.fileExists(atPath: "/proc/\(started.handle.shimPID)/mountinfo"))
            #expect(!FileManager.default.fileExists(atPath: fixture.crunState(uuid)))
            #expect(fixture.cgroupDirectories(uuid).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: "\(directory)/bundle"))
            #expect(FileManager.default.fileExists(atPath: "\(directory)/upper/kept"))
            #expect(FileManager.default.fileExists(atPath: "\(directory)/log"))

            let (_, again) = try await fixture.start(["cat", "/kept"], uuid: uuid)
            #expect(again.handle.shimPID != started.handle.shimPID)
            #expect(try #require(await fixture.sink.waitForExit(uuid, number: 2)).code == 0)
            try await fixture.driver.destroy(uuid)
            try await fixture.driver.destroy(uuid)
            #expect(!FileManager.default.fileExists(atPath: directory))
            #expect(!FileManager.default.fileExists(atPath: fixture.crunState(uuid)))
            #expect(fixture.cgroupDirectories(uuid).isEmpty)
            #expect(try !String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8).contains(fixture.stateDirectory))
        }
    }

    @Test func destroyOfARunningContainerEndsIt() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["sleep", "60"])
            try await fixture.driver.destroy(uuid)
            #expect(!HostProcess.isAlive(pid: started.handle.workloadPID, startTime: started.handle.workloadStartTime))
            #expect(!HostProcess.isAlive(pid: started.handle.shimPID, startTime: started.handle.shimStartTime))
            #expect(fixture.leftovers(uuid).isEmpty)
        }
    }

    @Test func startingAgainWithoutCleanupReplacesTheStoppedContainer() async throws {
        try await withFixture { fixture in
            let uuid = UUID()
            _ = try await fixture.start(["sh", "-c", "echo run >> /runs; cat /runs | wc -l"], uuid: uuid)
            #expect(try #require(await fixture.sink.waitForExit(uuid)).code == 0)
            #expect(FileManager.default.fileExists(atPath: fixture.crunState(uuid)))
            _ = try await fixture.start(["sh", "-c", "echo run >> /runs; cat /runs | wc -l"], uuid: uuid)
            #expect(try #require(await fixture.sink.waitForExit(uuid, number: 2)).code == 0)
            #expect(await eventually { fixture.logText(uuid) == "1\n2\n" })
        }
    }
}
