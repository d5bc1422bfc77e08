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
    /// What lets an instance outlive a daemon killed with SIGKILL: the shim leads
    /// its own session, its stdio is /dev/null, and it holds nothing of the daemon.
    @Test func shimIsDetachedFromTheDaemon() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["/bin/sleep", "60"])
            let shim = started.handle.shimPID
            let stat = try #require(ProcStat.read(pid: shim))
            #expect(stat.session == shim)
            for fd in 0...2 {
                let target = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(shim)/fd/\(fd)")
                #expect(target == "/dev/null")
            }
            let targets = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(shim)/fd").compactMap {
                try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(shim)/fd/\($0)")
            }
            #expect(!targets.contains { $0.hasPrefix("socket:") || $0.contains("corralPackageTests") })

            let workload = try #require(ProcStat.read(pid: started.handle.workloadPID))
            #expect(workload.session == started.handle.workloadPID)
            #expect(workload.parentPID == shim)

            try await fixture.driver.kill(uuid, handle: started.handle)
            _ = try #require(await fixture.sink.waitForExit(uuid))
        }
    }
}
