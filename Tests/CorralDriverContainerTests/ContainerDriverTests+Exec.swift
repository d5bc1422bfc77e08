import CorralCore
import CorralDriverContainer
import CorralHost
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension ContainerDriverTests {
    @Test func execReturnsOutputAndExitCodeWithEnvCwdAndStdin() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["sleep", "60"], env: ["BASE": "container"])
            let result = try await fixture.driver.exec(uuid, handle: started.handle, request: ExecRequest(
                command: ["sh", "-c", "echo out; echo err >&2; pwd; echo $FOO $BASE; cat; exit 4"],
                env: ["FOO": "baz"], workingDirectory: "/tmp", stdin: Array("from-stdin\n".utf8)
            ))
            #expect(result.exitCode == 4)
            #expect(String(decoding: result.stdout, as: UTF8.self) == "out\n/tmp\nbaz container\nfrom-stdin\n")
            #expect(String(decoding: result.stderr, as: UTF8.self) == "err\n")

            let missing = await CorralError.caught {
                _ = try await fixture.driver.exec(uuid, handle: started.handle, request: ExecRequest(command: ["no-such-tool"]))
            }
            #expect(missing?.code == .invalidArgument)

            let slow = await CorralError.caught {
                _ = try await fixture.driver.exec(
                    uuid, handle: started.handle, request: ExecRequest(command: ["sleep", "30"], timeout: .milliseconds(300))
                )
            }
            #expect(slow?.code == .timeout)
            #expect(await eventually { fixture.cgroup(uuid).members().count == 1 })
            #expect(fixture.sink.reported(uuid).isEmpty)
        }
    }

    @Test func execIntoAStoppedContainerIsInvalidState() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["true"])
            #expect(await fixture.sink.waitForExit(uuid) != nil)
            let error = await CorralError.caught {
                _ = try await fixture.driver.exec(uuid, handle: started.handle, request: ExecRequest(command: ["true"]))
            }
            #expect(error?.code == .invalidState)
        }
    }
}
