import CorralCore
import CorralDriverProcess
import CorralHost
import CorralShimFormat
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension ProcessDriverTests {
    @Test func freezeStopsCPUAndThawResumesIt() async throws {
        try await withFixture { fixture in
            guard fixture.driver.capabilities.contains(.freeze) else {
                print("skipping freeze test: no cgroup freezer")
                return
            }
            let (uuid, started) = try await fixture.start(["/bin/sh", "-c", "while :; do :; done"])
            try await Task.sleep(for: .milliseconds(200))
            let running = try await fixture.driver.usage(uuid, handle: started.handle)
            #expect((running.cpuTimeMilliseconds ?? 0) > 0)

            try await fixture.driver.freeze(uuid, handle: started.handle)
            let state = try #require(ProcStat.read(pid: started.handle.workloadPID)).state
            #expect(state == "D" || state == "T")
            let frozenAt = try await fixture.driver.usage(uuid, handle: started.handle).cpuTimeMilliseconds ?? 0
            try await Task.sleep(for: .milliseconds(300))
            let stillFrozen = try await fixture.driver.usage(uuid, handle: started.handle).cpuTimeMilliseconds ?? 0
            #expect(stillFrozen - frozenAt <= 2)

            try await fixture.driver.thaw(uuid, handle: started.handle)
            var thawed = stillFrozen
            let resumeDeadline = ContinuousClock.now + .seconds(3)
            while thawed - stillFrozen < 20 && ContinuousClock.now < resumeDeadline {
                try await Task.sleep(for: .milliseconds(50))
                thawed = try await fixture.driver.usage(uuid, handle: started.handle).cpuTimeMilliseconds ?? 0
            }
            #expect(thawed - stillFrozen >= 20)

            var resident: Int64 = 0
            let deadline = ContinuousClock.now + .seconds(4)
            while resident == 0 && ContinuousClock.now < deadline {
                resident = try await fixture.driver.usage(uuid, handle: started.handle).rssBytes ?? 0
                if resident == 0 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(resident > 0)

            try await fixture.driver.freeze(uuid, handle: started.handle)
            try await fixture.driver.kill(uuid, handle: started.handle)
            let status = try #require(await fixture.sink.waitForExit(uuid))
            #expect(status.signal == SIGKILL)
        }
    }
}
