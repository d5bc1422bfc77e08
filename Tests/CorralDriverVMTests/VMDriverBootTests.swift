import CorralAgentProtocol
import CorralCore
import CorralHost
import CorralTestSupport
import Foundation
import Testing

@testable import CorralDriverVM

#if canImport(Glibc)
import Glibc
#endif

/// Real boots of the busybox image through the driver, under whichever
/// accelerator works here (`auto`). Boots are few and each serves many checks.
@Suite(.serialized)
struct VMDriverBootTests {
    @Test func oneBootServesTheLifecycle() async throws {
        if VMTestHost.skip(VMTestHost.missingBoot) { return }
        try await VMFixture.run { fixture in
            let driver = fixture.driver()
            let probe = await driver.probe()
            print("vm probe:\n  " + probe.notes.joined(separator: "\n  "))
            #expect(probe.available)
            #expect(probe.notes.contains { $0.hasPrefix("accelerator kvm:") || $0.hasPrefix("accelerator tcg:") })

            let uuid = UUID()
            let script = "echo hello-from-vm $GREETING $EXTRA; trap 'echo got-term; exit 7' TERM; while true; do sleep 1; done"
            let started = try await driver.start(StartRequest(
                uuid: uuid, name: "vm-one", spec: fixture.spec(args: ["sh", "-c", script], env: ["EXTRA": "from-spec"])
            ))
            var handle = started.handle
            let accelerator = handle.attributes["accelerator"] ?? "?"
            print("boot to ready: \(Double(started.bootTimeMicroseconds) / 1000) ms (\(accelerator), microvm)")
            #expect(started.bootTimeMicroseconds > 0)
            #expect(FileManager.default.fileExists(atPath: "\(fixture.instanceDirectory(uuid))/disk.qcow2"))

            let log = await fixture.log(of: driver, uuid, containing: "hello-from-vm", timeout: .seconds(20))
            #expect(log.contains("hello-from-vm from-image from-spec"), "args and env reach the workload; the console is the log")
            #expect(log.contains("Linux version"), "the guest's boot messages are in the log")

            let hostname = try await driver.exec(uuid, handle: handle, request: ExecRequest(command: ["hostname"]))
            #expect(hostname.exitCode == 0 && String(decoding: hostname.stdout, as: UTF8.self) == "vm-one\n")
            let failing = try await driver.exec(uuid, handle: handle, request: ExecRequest(
                command: ["sh", "-c", "echo $X; echo oops >&2; exit 4"], env: ["X": "x-value"]
            ))
            #expect(failing.exitCode == 4)
            #expect(String(decoding: failing.stdout, as: UTF8.self) == "x-value\n")
            #expect(String(decoding: failing.stderr, as: UTF8.self) == "oops\n")

            // A long exec holds up nothing: another one answers while it runs.
            let running = handle
            let slow = Task {
                try await driver.exec(uuid, handle: running, request: ExecRequest(
                    command: ["sh", "-c", "sleep 2; touch /tmp/slow-done; echo slow"]))
            }
            try await Task.sleep(for: .milliseconds(300))
            let meanwhile = try await driver.exec(uuid, handle: handle, request: ExecRequest(
                command: ["sh", "-c", "test -e /tmp/slow-done && echo after || echo during"]))
            #expect(String(decoding: meanwhile.stdout, as: UTF8.self) == "during\n", "an exec ran while another one was running")
            let slowResult = try await slow.value
            #expect(slowResult.exitCode == 0 && String(decoding: slowResult.stdout, as: UTF8.self) == "slow\n")
            do throws(CorralError) {
                _ = try await driver.exec(uuid, handle: handle, request: ExecRequest(
                    command: ["sh", "-c", "sleep 30"], timeout: .milliseconds(500)))
                Issue.record("an exec past its timeout succeeded")
            } catch {
                #expect(error.code == .timeout, "\(error)")
            }

            try await driver.writeFile(uuid, handle: handle, path: "/tmp/from-host", contents: Array("written by the host\n".utf8), mode: 0o644)
            let cat = try await driver.exec(uuid, handle: handle, request: ExecRequest(command: ["cat", "/tmp/from-host"]))
            #expect(String(decoding: cat.stdout, as: UTF8.self) == "written by the host\n")
            #expect(try await driver.readFile(uuid, handle: handle, path: "/etc/passwd").count > 10)
            do throws(CorralError) {
                _ = try await driver.readFile(uuid, handle: handle, path: "/no/such/file")
                Issue.record("reading a missing guest file succeeded")
            } catch {
                #expect(error.code == .notFound, "\(error)")
            }

            try await VMExecSessionChecks.run(driver, uuid, handle: handle)

            let usage = try await driver.usage(uuid, handle: handle)
            #expect((usage.rssBytes ?? 0) > 0 && (usage.cpuTimeMilliseconds ?? 0) > 0)
            let qemuRSS = VMDriver.processUsage(pid: handle.workloadPID).rssBytes ?? 0
            print("idle VM: QEMU RSS \(qemuRSS / 1024) KiB, guest memory in use \((usage.rssBytes ?? 0) / 1024) KiB")

            try await driver.freeze(uuid, handle: handle)
            #expect(try await driver.qmp(uuid, handle: handle, verb: "test").status() == "paused")
            try await driver.thaw(uuid, handle: handle)
            #expect(try await driver.qmp(uuid, handle: handle, verb: "test").status() == "running")

            // A restarted daemon: a second driver adopts the VM, which keeps running.
            driver.shutdown()
            let adopter = fixture.driver()
            defer { adopter.shutdown() }
            let adopted = await adopter.adopt(uuid, handle: handle)
            #expect(adopted == .running(handle))
            #expect(HostProcess.isAlive(pid: handle.workloadPID, startTime: handle.workloadStartTime))
            let after = try await adopter.exec(uuid, handle: handle, request: ExecRequest(command: ["echo", "still-here"]))
            #expect(String(decoding: after.stdout, as: UTF8.self) == "still-here\n")
            #expect(try await adopter.qmp(uuid, handle: handle, verb: "test").status() == "running")

            let stopping = ContinuousClock.now
            try await adopter.terminate(uuid, handle: handle)
            let exit = await fixture.sink.waitForExit(uuid, timeout: .seconds(30))
            let stopTime = ContinuousClock.now - stopping
            print("terminate to exit: \(stopTime)")
            #expect(exit?.code == 7, "the workload's exit (its TERM trap) is the instance's: \(String(describing: exit))")
            #expect(stopTime < .seconds(Int(fixture.configuration.shutdownGraceMilliseconds / 1000) + 5))
            let final = await fixture.log(of: adopter, uuid, containing: "got-term", timeout: .seconds(5))
            #expect(final.contains("got-term"))

            try await adopter.destroy(uuid)
            handle.attributes = [:]
            #expect(!FileManager.default.fileExists(atPath: fixture.instanceDirectory(uuid)), "no overlay, socket or log left")
            #expect(!VMFixture.processRunning(mentioning: fixture.instanceDirectory(uuid)), "no QEMU left")
            #expect(fixture.cgroupDirectories(uuid).isEmpty, "no cgroup left")
        }
    }

    @Test func theWorkloadsExitCodeIsTheInstancesAndABadCommandFailsTheStartCleanly() async throws {
        if VMTestHost.skip(VMTestHost.missingBoot) { return }
        try await VMFixture.run { fixture in
            let driver = fixture.driver()
            defer { driver.shutdown() }

            let uuid = UUID()
            let started = try await driver.start(StartRequest(
                uuid: uuid, name: "vm-exit", spec: fixture.spec(args: ["sh", "-c", "sleep 1; echo bye; exit 7"])
            ))
            print("boot to ready: \(Double(started.bootTimeMicroseconds) / 1000) ms (\(started.handle.attributes["accelerator"] ?? "?"))")
            let exit = await fixture.sink.waitForExit(uuid, timeout: .seconds(60))
            #expect(exit?.code == 7 && exit?.signal == nil, "\(String(describing: exit))")
            #expect(!HostProcess.isAlive(pid: started.handle.workloadPID, startTime: started.handle.workloadStartTime))
            #expect(FileManager.default.fileExists(atPath: "\(fixture.instanceDirectory(uuid))/workload-exit"))
            try await driver.cleanup(uuid)
            #expect(!FileManager.default.fileExists(atPath: "\(fixture.instanceDirectory(uuid))/workload-exit"))
            #expect(FileManager.default.fileExists(atPath: "\(fixture.instanceDirectory(uuid))/disk.qcow2"), "the disk outlives a stop")
            try await driver.destroy(uuid)

            let bad = UUID()
            do throws(CorralError) {
                _ = try await driver.start(StartRequest(
                    uuid: bad, name: "vm-bad", spec: fixture.spec(args: ["/no/such/command"])
                ))
                Issue.record("a start with a missing command succeeded")
            } catch {
                print("a missing command: \(error.code): \(error.message)")
                #expect(error.message.hasPrefix("failed to start instance: "), "\(error)")
                #expect(error.message.contains("/no/such/command"), "\(error)")
            }
            #expect(fixture.sink.reported(bad).isEmpty, "a failed start reports no exit")
            #expect(!FileManager.default.fileExists(atPath: fixture.instanceDirectory(bad)), "a failed start leaves nothing")
            #expect(!VMFixture.processRunning(mentioning: fixture.instanceDirectory(bad)))
            #expect(fixture.cgroupDirectories(bad).isEmpty)
        }
    }

    @Test func aBootPastItsTimeoutFailsWithTheConsoleAndLeavesNothing() async throws {
        if VMTestHost.skip(VMTestHost.missingBoot) { return }
        try await VMFixture.run(bootTimeout: .milliseconds(1500)) { fixture in
            let driver = fixture.driver()
            defer { driver.shutdown() }
            let uuid = UUID()
            let started = ContinuousClock.now
            do throws(CorralError) {
                _ = try await driver.start(StartRequest(uuid: uuid, name: "vm-slow", spec: fixture.spec(args: ["true"])))
                Issue.record("a boot finished within 1.5 s; the timeout path was not exercised")
                try await driver.destroy(uuid)
            } catch {
                print("boot timeout: \(error.message.prefix(400))")
                #expect(error.code == .timeout, "\(error)")
                #expect(error.message.contains("did not report ready within"))
                #expect(error.message.contains("console"))
            }
            #expect(ContinuousClock.now - started < .seconds(40), "the accelerator probe (10 s at most), the disks, the timeout")
            #expect(fixture.sink.reported(uuid).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: fixture.instanceDirectory(uuid)))
            #expect(!VMFixture.processRunning(mentioning: fixture.instanceDirectory(uuid)))
            #expect(fixture.cgroupDirectories(uuid).isEmpty)
        }
    }

    @Test func validationNamesTheProblem() throws {
        let driver = VMDriver(
            configuration: VMDriverConfiguration(stateDirectory: "/tmp/unused", shimPath: "/nonexistent", agentPath: "/nonexistent"),
            images: BusyboxImages(rootfsPath: "/nonexistent", config: ImageRuntimeConfig()), events: CollectingSink(),
            logger: .init(label: "test")
        )
        defer { driver.shutdown() }
        func message(_ spec: InstanceSpec) -> String? {
            do {
                try driver.validate(spec)
                return nil
            } catch {
                return error.message
            }
        }
        let good = InstanceSpec(driver: "vm", image: BusyboxImages.reference, args: [], memoryMB: 128, vcpus: 1)
        #expect(message(good) == nil)
        var spec = good
        spec.memoryMB = 32
        #expect(message(spec)?.contains("at least 64 MB") == true)
        spec = good
        spec.vcpus = 65
        #expect(message(spec)?.contains("'vcpus'") == true)
        spec = good
        spec.image = "busybox:latest"
        #expect(message(spec)?.contains("pinned") == true)
        spec = good
        spec.kernel = KernelSpec(cmdline: ["bad key": "1"])
        #expect(message(spec)?.contains("'bad key'") == true)
        spec = good
        spec.kernel = KernelSpec(path: "relative/vmlinuz")
        #expect(message(spec)?.contains("kernel.path") == true)
    }
}
