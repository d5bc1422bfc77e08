@testable import CorralImages
import CorralCore
import CorralHost
import Foundation
import Synchronization
import Testing

@Suite struct CommandRunnerTests {
    static let sh = "/bin/sh"

    @Test func passesOutputLinesStderrAndTheExitCode() async throws {
        let lines = Mutex<[String]>([])
        let output = try await CommandRunner.run(
            Self.sh, ["-c", "printf 'one\\ntwo\\r\\nthree'; echo oops >&2; exit 5"], environment: ["A": "1"],
            timeout: .seconds(10), action: "run sh", onOutputLine: { line in lines.withLock { $0.append(line) } })
        #expect(output.status == 5)
        #expect(output.stdout == "one\ntwo\r\nthree")
        #expect(output.stderr == "oops\n")
        #expect(lines.withLock { $0 } == ["one", "two", "three"])
    }

    @Test func givesTheEnvironmentAndKeepsTheTailOfLongOutput() async throws {
        let env = try await CommandRunner.run(Self.sh, ["-c", "echo $A"], environment: ["A": "from-env"], timeout: .seconds(10), action: "run sh")
        #expect(env.stdout == "from-env\n")
        let long = try await CommandRunner.run(
            Self.sh, ["-c", "head -c 600000 /dev/zero | tr '\\0' x; echo END; head -c 300000 /dev/zero >&2"],
            timeout: .seconds(20), action: "run sh")
        #expect(long.stdout.utf8.count == CommandRunner.outputLimit)
        #expect(long.stdout.hasSuffix("xEND\n"))
        #expect(long.stderr.utf8.count == CommandRunner.outputLimit)
    }

    @Test func aSignalledChildReportsOneHundredTwentyEightPlusTheSignal() async throws {
        let output = try await CommandRunner.run(Self.sh, ["-c", "kill -9 $$"], timeout: .seconds(10), action: "run sh")
        #expect(output.status == 128 + 9)
    }

    @Test func theDeadlineTerminatesTheChildAndIsATimeout() async throws {
        let clock = ContinuousClock()
        let started = clock.now
        let error = await #expect(throws: CorralError.self) {
            try await CommandRunner.run(Self.sh, ["-c", "sleep 30"], timeout: .milliseconds(300), action: "wait")
        }
        #expect(error?.code == .timeout)
        #expect(clock.now - started < .seconds(5))
    }

    @Test func cancellingTheTaskTerminatesTheChild() async throws {
        let task = Task { () async throws(CorralError) -> CommandOutput in
            try await CommandRunner.run(Self.sh, ["-c", "sleep 30"], timeout: .seconds(60), action: "wait")
        }
        try await Task.sleep(for: .milliseconds(200))
        let clock = ContinuousClock()
        let started = clock.now
        task.cancel()
        let result = await task.result
        #expect(clock.now - started < .seconds(5))
        guard case .failure(let error) = result else {
            Issue.record("expected a failure, got \(result)")
            return
        }
        #expect("\(error)".contains("cancelled"))
    }

    @Test func aMissingProgramIsUnavailable() async throws {
        let error = await #expect(throws: CorralError.self) {
            try await CommandRunner.run("/nonexistent/tool", [], timeout: .seconds(5), action: "run it")
        }
        #expect(error?.code == .unavailable)
    }

    @Test(.enabled(if: ImageTools.gzip != nil, "needs gzip"))
    func theDecompressorStreamsAndReportsACorruptInput() async throws {
        let scratch = try ScratchDirectory()
        let gzip = try #require(ImageTools.gzip)
        let plain = "\(scratch.path)/data"
        let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Data(payload).write(to: URL(fileURLWithPath: plain))
        try await runTool(gzip, ["-k", plain])

        let source = try DecompressorByteSource(tool: gzip, path: plain + ".gz")
        var read: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = try source.read(into: &buffer, from: 0)
            if count == 0 { break }
            read += buffer[0..<count]
        }
        try source.finish(complete: true)
        #expect(read == payload)

        let corrupt = try DecompressorByteSource(tool: gzip, path: plain)
        var sink = [UInt8](repeating: 0, count: 4096)
        while try corrupt.read(into: &sink, from: 0) > 0 {}
        #expect(throws: ArchiveProblem.self) { try corrupt.finish(complete: true) }

        let abandoned = try DecompressorByteSource(tool: gzip, path: plain + ".gz")
        _ = try abandoned.read(into: &sink, from: 0)
        try abandoned.finish(complete: false)
    }
}
