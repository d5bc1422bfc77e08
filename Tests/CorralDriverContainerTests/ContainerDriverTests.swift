import CorralCore
import CorralDriverContainer
import CorralHost
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Real containers under real crun; serialized because they share two cores.
@Suite(.serialized, .enabled(if: TestHost.canRun, "needs root, crun, busybox-static, overlayfs, cgroups and a built corral-shim"))
struct ContainerDriverTests {
    @Test func commandOutputEnvironmentAndExitCodeReachLogAndSink() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(
                ["sh", "-c", "echo hi; echo $FOO; echo $IMAGE_ONLY; hostname; exit 3"], env: ["FOO": "bar"], name: "web-1"
            )
            #expect(started.handle.workloadPID > 0)
            #expect(started.bootTimeMicroseconds > 0)
            let status = try #require(await fixture.sink.waitForExit(uuid))
            #expect(status.code == 3)
            #expect(status.signal == nil)
            #expect(!status.oomKilled)
            #expect(await eventually { fixture.logText(uuid) == "hi\nbar\nfrom-image\nweb-1\n" })
            #expect(fixture.logText(uuid) == "hi\nbar\nfrom-image\nweb-1\n")
        }
    }

    @Test func imageConfigGivesCommandUserAndWorkingDirectory() async throws {
        try await withFixture { fixture in
            let image = fixture.images.add(rootfs: fixture.rootfs, config: ImageRuntimeConfig(
                entrypoint: ["/bin/sh", "-c"],
                cmd: ["echo default"],
                env: ["PATH=/bin", "A=image", "B=image"],
                workingDir: "/home/app",
                user: "app"
            ))
            let (first, _) = try await fixture.start([], image: image)
            #expect(try #require(await fixture.sink.waitForExit(first)).code == 0)
            #expect(await eventually { fixture.logText(first) == "default\n" })

            let (second, _) = try await fixture.start(
                ["id -u; id -g; id -G; pwd; echo $A $B $HOME"], image: image, env: ["B": "spec"]
            )
            #expect(try #require(await fixture.sink.waitForExit(second)).code == 0)
            #expect(await eventually { fixture.logText(second) == "1000\n1000\n1000 1001\n/home/app\nimage spec /home/app\n" })
            #expect(fixture.logText(second) == "1000\n1000\n1000 1001\n/home/app\nimage spec /home/app\n")
        }
    }

    @Test func memoryLimitIsEnforcedByTheOOMKiller() async throws {
        try await withFixture { fixture in
            let (uuid, _) = try await fixture.start(["sh", "-c", "x=0123456789abcdef; while true; do x=$x$x; done"], memoryMB: 32)
            let status = try #require(await fixture.sink.waitForExit(uuid, timeout: .seconds(20)))
            #expect(status.oomKilled)
            #expect(status.signal == SIGKILL)
        }
    }

    @Test func terminateDeliversSigtermToAnInitThatHandlesIt() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(
                ["sh", "-c", "trap 'echo got-term; exit 0' TERM; echo ready; while true; do sleep 0.05; done"]
            )
            #expect(await eventually { fixture.logText(uuid) == "ready\n" })
            try await fixture.driver.terminate(uuid, handle: started.handle)
            let status = try #require(await fixture.sink.waitForExit(uuid))
            #expect(status.code == 0)
            #expect(fixture.logText(uuid) == "ready\ngot-term\n")
        }
    }

    @Test func aPlainInitDiesFromTerminateAndOneIgnoringItOnlyFromKill() async throws {
        try await withFixture { fixture in
            let (plain, plainStarted) = try await fixture.start(["sleep", "60"])
            try await fixture.driver.terminate(plain, handle: plainStarted.handle)
            let plainStatus = try #require(await fixture.sink.waitForExit(plain, timeout: .seconds(3)))
            #expect(plainStatus.signal == SIGKILL)

            let (stubborn, started) = try await fixture.start(["sh", "-c", "trap '' TERM; echo ready; while true; do sleep 0.05; done"])
            #expect(await eventually { fixture.logText(stubborn) == "ready\n" })
            try await fixture.driver.terminate(stubborn, handle: started.handle)
            try await Task.sleep(for: .milliseconds(300))
            #expect(fixture.sink.reported(stubborn).isEmpty)
            #expect(HostProcess.isAlive(pid: started.handle.workloadPID, startTime: started.handle.workloadStartTime))

            try await fixture.driver.kill(stubborn, handle: started.handle)
            let status = try #require(await fixture.sink.waitForExit(stubborn))
            #expect(status.signal == SIGKILL)
            try await Task.sleep(for: .milliseconds(100))
            #expect(fixture.sink.reported(stubborn).count == 1)
        }
    }

    @Test func freezeStopsTheContainerAndThawResumesIt() async throws {
        try await withFixture { fixture in
            #expect(fixture.driver.capabilities.contains(.freeze))
            let (uuid, started) = try await fixture.start(["sh", "-c", "while true; do echo tick; sleep 0.02; done"])
            #expect(await eventually { fixture.logText(uuid).count >= 10 })
            try await fixture.driver.freeze(uuid, handle: started.handle)
            #expect(fixture.cgroup(uuid).isFrozen())
            let frozenLength = fixture.logText(uuid).count
            try await Task.sleep(for: .milliseconds(200))
            #expect(fixture.logText(uuid).count == frozenLength)

            try await fixture.driver.thaw(uuid, handle: started.handle)
            #expect(!fixture.cgroup(uuid).isFrozen())
            #expect(await eventually { fixture.logText(uuid).count > frozenLength + 20 })

            let usage = try await fixture.driver.usage(uuid, handle: started.handle)
            #expect((usage.cpuTimeMilliseconds ?? -1) >= 0)
            try await fixture.driver.kill(uuid, handle: started.handle)
            #expect(await fixture.sink.waitForExit(uuid) != nil)
        }
    }

    @Test func validationNamesTheImage() async throws {
        try await withFixture { fixture in
            var spec = fixture.spec(["true"])
            spec.image = nil
            let missing = await CorralError.caught { try fixture.driver.validate(spec) }
            #expect(missing?.code == .invalidArgument)
            #expect(missing?.message.contains("'image'") == true)

            spec.image = "busybox:latest"
            let unpinned = await CorralError.caught { try fixture.driver.validate(spec) }
            #expect(unpinned?.code == .invalidArgument)
            #expect(unpinned?.message.contains("pinned") == true)

            try fixture.driver.validate(fixture.spec(["true"]))
        }
    }

    @Test func aMissingCommandFailsTheStartAndLeavesNothing() async throws {
        try await withFixture { fixture in
            let uuid = UUID()
            let error = await CorralError.caught { _ = try await fixture.start(["no-such-command-corral"], uuid: uuid) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("no-such-command-corral") == true)
            #expect(fixture.leftovers(uuid).isEmpty)
        }
    }

    @Test func probeExplainsTheHost() async throws {
        try await withFixture { fixture in
            let probe = await fixture.driver.probe()
            #expect(probe.available, "\(probe.notes)")
            #expect(probe.notes.contains { $0.hasPrefix("crun (new containers): ") && $0.contains("version") })
            #expect(probe.notes.contains("overlayfs: available"))
            let mountinfo = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
            if !CgroupLayout.hybridUnifiedMounts(mountinfo: mountinfo).isEmpty {
                #expect(probe.notes.contains { $0.hasPrefix("hybrid cgroup host") && $0.contains("private mount namespace") })
            }
        }
    }

    @Test func runcRunsExecsAndDeletesAContainerAndKeepsItsRuntime() async throws {
        guard ExecutableLookup.resolve("runc") != nil else {
            print("skipping runc test: runc is not installed (Debian package runc)")
            return
        }
        try await withFixture(runtime: .runc) { fixture in
            let (uuid, started) = try await fixture.start(["sh", "-c", "echo hi-runc; sleep 60"])
            #expect(started.handle.attributes["runtime"] == "runc")
            #expect(FileManager.default.fileExists(atPath: fixture.runtimeState(uuid, .runc)))
            #expect(!FileManager.default.fileExists(atPath: fixture.crunState(uuid)))
            #expect(await eventually { fixture.logText(uuid) == "hi-runc\n" })
            let result = try await fixture.driver.exec(uuid, handle: started.handle, request: ExecRequest(command: ["cat", "/etc/hostname"]))
            #expect(result.exitCode == 0 && String(decoding: result.stdout, as: UTF8.self) == "box\n")

            // A daemon now configured for crun still runs this container's commands with runc.
            let restarted = fixture.restartedDriver(sink: CollectingSink())
            guard case .running(let handle) = await restarted.adopt(uuid, handle: started.handle) else {
                Issue.record("the runc container was not adopted")
                return
            }
            #expect(try await restarted.exec(uuid, handle: handle, request: ExecRequest(command: ["true"])).exitCode == 0)
            try await restarted.kill(uuid, handle: handle)
            try await restarted.destroy(uuid)
            #expect(!FileManager.default.fileExists(atPath: fixture.runtimeState(uuid, .runc)))
            #expect(!FileManager.default.fileExists(atPath: fixture.instanceDirectory(uuid)))
        }
    }
}
