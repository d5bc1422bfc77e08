import CorralCore
import CorralDriverProcess
import CorralHost
import CorralTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The shim states the exit on its ready descriptor before it makes the record
/// durable and exits (unmounting a container's rootfs on the way); the driver
/// reports the exit from that message. A stand-in shim that lingers after the
/// message shows the report does not wait for the shim, and a cleanup does.
extension ProcessDriverTests {
    /// A shell script in the shim's place: it reports itself as the workload,
    /// states exit code 7 on fd 3 (with the ready line in one write, or after it),
    /// then lingers for `linger` seconds.
    static func lingeringShim(together: Bool, linger: String = "30") -> String {
        let write = together
            ? #"printf '%s\n%s\n' "$ready" "$exited" >&3"#
            : #"printf '%s\n' "$ready" >&3; sleep 0.1; printf '%s\n' "$exited" >&3"#
        return """
            #!/bin/sh
            read -r _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ start _ < /proc/$$/stat
            ready="started $$ $start $$ $start 0"
            exited="corral-exit 1
            shim_pid $$
            shim_start $start
            pid $$
            code 7
            oom 0
            time_ns 1700000000000000000"
            \(write)
            exec 3>&-
            sleep \(linger)
            """
    }

    @Test(arguments: [false, true])
    func exitIsReportedFromTheShimsMessageBeforeTheShimIsGone(together: Bool) async throws {
        try await withFixture(shim: Self.lingeringShim(together: together)) { fixture in
            let (uuid, started) = try await fixture.start(["/bin/true"])
            let shim = started.handle
            let status = try #require(await fixture.sink.waitForExit(uuid))
            #expect(status.code == 7)
            #expect(status.at == Date(timeIntervalSince1970: 1_700_000_000))
            #expect(HostProcess.isAlive(pid: shim.shimPID, startTime: shim.shimStartTime))

            // A cleanup ends the shim and waits for it; the exit stays reported once.
            try await fixture.driver.cleanup(uuid)
            #expect(!HostProcess.isAlive(pid: shim.shimPID, startTime: shim.shimStartTime))
            #expect(fixture.sink.reported(uuid).count == 1)
        }
    }

    @Test func aShimThatDiesBeforeItsMessageIsReportedAsKilled() async throws {
        let shim = """
            #!/bin/sh
            read -r _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ start _ < /proc/$$/stat
            printf 'started %s %s %s %s 0\\n' $$ "$start" $$ "$start" >&3
            sleep 0.2
            exit 0
            """
        try await withFixture(shim: shim) { fixture in
            let (uuid, _) = try await fixture.start(["/bin/true"])
            let status = try #require(await fixture.sink.waitForExit(uuid))
            #expect(status.signal == SIGKILL)
            try await Task.sleep(for: .milliseconds(50))
            #expect(fixture.sink.reported(uuid).count == 1)
        }
    }
}
