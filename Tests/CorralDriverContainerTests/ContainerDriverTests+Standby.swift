import CorralCore
import CorralDriverContainer
import CorralHost
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Standbys: a container started ahead of time, taken over by the next instance of
/// its image. What the instance gets must be what a cold start gives it.
extension ContainerDriverTests {
    private static let standbyTestsEnabled = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")
        && TestHost.standbyPath.map { FileManager.default.isExecutableFile(atPath: $0) } == true

    /// An image whose user is not root and whose working directory does not exist.
    private func appImage(_ fixture: ContainerFixture) -> String {
        fixture.images.add(rootfs: fixture.rootfs, config: ImageRuntimeConfig(
            env: ["PATH=/bin", "IMAGE_ONLY=from-image"], workingDir: "/srv/work", user: "app"
        ))
    }

    private func standbyReady(_ driver: ContainerDriver) async -> Bool {
        await eventually(timeout: .seconds(15)) {
            guard let status = driver.standbyStatus() else { return false }
            return status.ready == 1 && status.preparing == 0
        }
    }

    private func instanceDirectories(_ fixture: ContainerFixture) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: "\(fixture.stateDirectory)/instances")) ?? []
    }

    @Test(.enabled(if: standbyTestsEnabled, "needs ip(8) and corral-standby"))
    func anInstanceTakesOverAStandbyAndGetsWhatAColdStartGives() async throws {
        let networking = NamespaceOnlyNetworking()
        try await withFixture(networking: networking, standbys: 1) { fixture in
            guard TestHost.canRun else { return }
            let image = appImage(fixture)
            #expect(fixture.driver.claimStandby(for: fixture.spec(["true"], image: image)) == nil)

            let (cold, _) = try await fixture.start(["sleep", "60"], image: image, name: "cold")
            // From the start on, the image's standby is ready or on its way.
            let status = try #require(fixture.driver.standbyStatus())
            #expect(status.ready + status.preparing == 1)
            #expect(await standbyReady(fixture.driver))

            var spec = fixture.spec(["sh", "-c", "echo started in $(pwd); exec sleep 60"], image: image, memoryMB: 48, env: ["GREETING": "hi"])
            spec.ports = [PortMapping(hostPort: 18081, instancePort: 80)]
            let uuid = try #require(fixture.driver.claimStandby(for: spec))
            fixture.track(uuid)
            #expect(fixture.driver.standbyStatus()?.ready == 0)
            let pidText = try String(contentsOfFile: "\(fixture.instanceDirectory(uuid))/init.pid", encoding: .utf8)
            let standbyPID = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
            func nice(_ pid: Int32) -> Int32 { getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(pid)) }
            // Prepared at the lowest priority; the instance runs at the default one.
            #expect(nice(standbyPID) == 19)
            let started = try await fixture.driver.start(StartRequest(uuid: uuid, name: "warm", spec: spec))
            #expect(started.handle.workloadPID == standbyPID)
            #expect(nice(standbyPID) == 0)
            #expect(nice(started.handle.shimPID) == 0)
            #expect(!FileManager.default.fileExists(atPath: "\(fixture.instanceDirectory(uuid))/standby"))
            #expect(networking.calls.withLock { $0 }.contains("publish 18081:80 at 10.88.0.7"))

            func run(_ command: String) async throws -> String {
                let result = try await fixture.driver.exec(uuid, handle: started.handle, request: ExecRequest(command: ["sh", "-c", command]))
                return String(decoding: result.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            // The workload itself, pid 1: its user, groups, directory, environment.
            #expect(try await run("cat /proc/1/status | grep -E '^(Uid|Gid|Groups|CapEff)'")
                == "Uid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\nGroups:\t1001 \nCapEff:\t0000000000000000")
            // Another user's environment is not for the container's root to read.
            let environ = try #require(FileManager.default.contents(atPath: "/proc/\(standbyPID)/environ"))
            #expect(environ.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.sorted() == [
                "GREETING=hi", "HOME=/home/app", "HOSTNAME=warm", "IMAGE_ONLY=from-image", "PATH=/bin",
                "PWD=/srv/work", "SHLVL=1",  // what sh added before it exec'd sleep
            ])
            #expect(try await run("tr '\\0' ' ' < /proc/1/cmdline") == "sleep 60")
            #expect(try await run("hostname; cat /etc/hostname") == "warm\nwarm")
            #expect(try await run("grep warm /etc/hosts") == "10.88.0.7\twarm")
            #expect(try await run("ls /proc/1/fd | sort | tr '\\n' ' '") == "0 1 2")
            let limit = try String(contentsOfFile: "/sys/fs/cgroup/memory/\(fixture.cgroupParent)/\(uuid.uuidString.lowercased())/memory.limit_in_bytes", encoding: .utf8)
            #expect(limit.trimmingCharacters(in: .whitespacesAndNewlines) == String(48 << 20))
            #expect(await eventually { fixture.logText(uuid) == "started in /srv/work\n" })

            // The next standby comes; a delete leaves nothing of the instance.
            #expect(await standbyReady(fixture.driver))
            try await fixture.driver.destroy(uuid)
            #expect(fixture.leftovers(uuid).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: "/run/netns/\(networking.name(uuid))"))
            try await fixture.driver.destroy(cold)
        }
    }

    @Test(.enabled(if: standbyTestsEnabled, "needs ip(8) and corral-standby"))
    func aStandbyThatCannotRunTheCommandFailsTheStartLikeCrunAndLeavesNothing() async throws {
        try await withFixture(networking: NamespaceOnlyNetworking(), standbys: 1) { fixture in
            guard TestHost.canRun else { return }
            let (cold, _) = try await fixture.start(["sleep", "60"], name: "cold")
            #expect(await standbyReady(fixture.driver))
            let spec = fixture.spec(["no-such-command"])
            let uuid = try #require(fixture.driver.claimStandby(for: spec))
            fixture.track(uuid)
            let error = await #expect(throws: CorralError.self) {
                _ = try await fixture.driver.start(StartRequest(uuid: uuid, name: "broken", spec: spec))
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message.contains("executable file `no-such-command` not found in $PATH") == true)
            #expect(fixture.leftovers(uuid).isEmpty)
            // The instance can still be started: the normal way.
            let started = try await fixture.driver.start(StartRequest(uuid: uuid, name: "fixed", spec: fixture.spec(["sleep", "60"])))
            #expect(started.handle.workloadPID > 0)
            try await fixture.driver.destroy(uuid)
            try await fixture.driver.destroy(cold)
        }
    }

    @Test(.enabled(if: standbyTestsEnabled, "needs ip(8) and corral-standby"))
    func aCommandTooLargeForTheChannelStartsTheNormalWay() async throws {
        try await withFixture(networking: NamespaceOnlyNetworking(), standbys: 1) { fixture in
            guard TestHost.canRun else { return }
            let (cold, _) = try await fixture.start(["sleep", "60"], name: "cold")
            #expect(await standbyReady(fixture.driver))
            let spec = fixture.spec(["sh", "-c", "echo ${#BIG}; exec sleep 60"], env: ["BIG": String(repeating: "x", count: 70_000)])
            let uuid = try #require(fixture.driver.claimStandby(for: spec))
            fixture.track(uuid)
            let pidText = try String(contentsOfFile: "\(fixture.instanceDirectory(uuid))/init.pid", encoding: .utf8)
            let started = try await fixture.driver.start(StartRequest(uuid: uuid, name: "big", spec: spec))
            #expect(String(started.handle.workloadPID) != pidText.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(!FileManager.default.fileExists(atPath: "\(fixture.instanceDirectory(uuid))/standby"))
            #expect(await eventually { fixture.logText(uuid) == "70000\n" })
            try await fixture.driver.destroy(uuid)
            try await fixture.driver.destroy(cold)
        }
    }

    @Test(.enabled(if: standbyTestsEnabled, "needs ip(8) and corral-standby"))
    func standbysAreDiscardedWhenReleasedAndWhenADaemonFindsThemLeftOver() async throws {
        let networking = NamespaceOnlyNetworking()
        try await withFixture(networking: networking, standbys: 1) { fixture in
            guard TestHost.canRun else { return }
            let (cold, _) = try await fixture.start(["sleep", "60"], name: "cold")
            #expect(await standbyReady(fixture.driver))
            let claimed = try #require(fixture.driver.claimStandby(for: fixture.spec(["true"])))
            await fixture.driver.releaseStandby(claimed)
            #expect(!FileManager.default.fileExists(atPath: fixture.instanceDirectory(claimed)))
            #expect(!FileManager.default.fileExists(atPath: fixture.crunState(claimed)))

            // A start refills; a driver of a new daemon removes what the old one left.
            try await fixture.driver.destroy(cold)
            let (again, _) = try await fixture.start(["sleep", "60"], name: "again")
            #expect(await standbyReady(fixture.driver))
            let left = instanceDirectories(fixture).filter { $0 != again.uuidString.lowercased() }
            #expect(left.count == 1)
            let restarted = fixture.restartedDriver(sink: CollectingSink(), networking: networking)
            await restarted.discardLeftoverStandbys()
            #expect(instanceDirectories(fixture) == [again.uuidString.lowercased()])
            #expect(fixture.cgroupDirectories(try #require(UUID(uuidString: left[0]))).isEmpty)
            try await fixture.driver.destroy(again)
        }
    }

    @Test(.enabled(if: standbyTestsEnabled, "needs ip(8) and corral-standby"))
    func closingTheStandbysWaitsForAPreparationUnderWayAndLeavesNothing() async throws {
        let networking = NamespaceOnlyNetworking()
        try await withFixture(networking: networking, standbys: 1) { fixture in
            guard TestHost.canRun else { return }
            let (cold, _) = try await fixture.start(["sleep", "60"], name: "cold")
            // Past the refill's delay, into its preparation (or just after it).
            try await Task.sleep(for: .milliseconds(30))
            await fixture.driver.discardStandbys(close: true)
            #expect(instanceDirectories(fixture) == [cold.uuidString.lowercased()])
            #expect(fixture.driver.standbyStatus() == StandbyStatus(perImage: 1, ready: 0, preparing: 0))
            let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []
            #expect(namespaces.filter { $0.hasPrefix(networking.prefix) } == [networking.name(cold)])
            try await fixture.driver.destroy(cold)
        }
    }
}
