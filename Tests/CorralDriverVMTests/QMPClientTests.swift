import CorralCore
import CorralHost
import Foundation
import Testing

@testable import CorralDriverVM

/// QMP against a real QEMU with no guest (`-M none`).
struct QMPClientTests {
    @Test func capabilitiesStatusStopContAndQuit() async throws {
        if VMTestHost.skip(VMTestHost.missingQEMU) { return }
        let qemu = try #require(VMTestHost.qemu)
        try await ScratchDirectory.run { scratch in
            let socket = "\(scratch.path)/qmp.sock"
            let process = try SpawnedProcess(qemu, [
                "-M", "none", "-nodefaults", "-display", "none", "-qmp", "unix:\(socket),server=on,wait=off",
            ])
            let watcher = try DescriptorWatcher(name: "qmp-test")
            defer { watcher.shutdown() }
            do {
                let deadline = HostProcess.monotonicNanoseconds() + 10_000_000_000
                let qmp = try await QMPClient.connect(path: socket, watcher: watcher, deadline: deadline)
                #expect(try await qmp.status() == "running")
                try await qmp.execute("stop")
                #expect(try await qmp.status() == "paused")
                try await qmp.execute("cont")
                #expect(try await qmp.status() == "running")

                do {
                    try await qmp.execute("no-such-command")
                    Issue.record("an unknown command succeeded")
                } catch let error as CorralError {
                    #expect(error.message.contains("no-such-command"), "\(error.message)")
                }
                #expect(try await qmp.status() == "running", "the connection survives an error reply")

                _ = try? await qmp.execute("quit", timeout: .seconds(5))
                #expect(await process.waitExit(timeout: .seconds(10)), "QEMU exits on quit")
                do {
                    _ = try await qmp.status()
                    Issue.record("a command on a closed connection succeeded")
                } catch let error as CorralError {
                    #expect(error.code == .unavailable || error.code == .timeout)
                }
            } catch {
                await process.kill()
                throw error
            }
        }
    }

    @Test func connectingToASocketNobodyCreatesTimesOutBounded() async throws {
        let watcher = try DescriptorWatcher(name: "qmp-test")
        defer { watcher.shutdown() }
        let started = ContinuousClock.now
        do throws(CorralError) {
            _ = try await QMPClient.connect(
                path: "/tmp/corral-no-such-\(UUID().uuidString.prefix(8)).sock", watcher: watcher,
                deadline: HostProcess.monotonicNanoseconds() + 300_000_000
            )
            Issue.record("connected to nothing")
        } catch {
            #expect(error.code == .unavailable)
        }
        // 300 ms of retries; the bound is generous because the other suites' blocking
        // helpers can hold this test's task off the two cooperative threads for seconds.
        #expect(ContinuousClock.now - started < .seconds(30))
    }
}
