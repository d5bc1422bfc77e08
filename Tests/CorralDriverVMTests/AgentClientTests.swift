import CorralAgentProtocol
import CorralCore
import CorralHost
import Foundation
import Testing

@testable import CorralDriverVM

#if canImport(Glibc)
import Glibc
#endif

/// The host end of the agent channel against a real `corral-agent serve --socket`:
/// the test listens, the agent connects.
struct AgentClientTests {
    /// A listening unix socket; returns its descriptor.
    private func listen(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0 && Glibc.listen(fd, 1) == 0)
        return fd
    }

    /// Accepts one connection within `timeout` without blocking a Swift thread for long.
    private func accept(_ listener: Int32, timeout: Duration) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var pending = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            if poll(&pending, 1, 0) == 1 {
                let fd = Glibc.accept(listener, nil, nil)
                try #require(fd >= 0)
                return fd
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw CorralError.timeout("the agent did not connect")
    }

    @Test func execFilesMetricsAndErrorsThroughTheAgent() async throws {
        if VMTestHost.skip(VMTestHost.missingAgent) { return }
        let agentPath = try #require(VMTestHost.agentPath)
        try await ScratchDirectory.run { scratch in
            let socketPath = "\(scratch.path)/agent.sock"
            let listener = try listen(socketPath)
            defer { close(listener) }
            let agent = try SpawnedProcess(agentPath, ["serve", "--socket", socketPath])
            let watcher = try DescriptorWatcher(name: "agent-test")
            defer { watcher.shutdown() }
            do {
                let fd = try await accept(listener, timeout: .seconds(10))
                let client = try AgentClient(fd: fd, path: socketPath, watcher: watcher) { _ in true }

                let reply = try await client.request(
                    .exec(ExecRequest(argv: ["/bin/sh", "-c", "read line; echo out:$line; echo err >&2; exit 3"],
                                      stdin: Array("hello\n".utf8))),
                    verb: "exec", timeout: .seconds(10)
                )
                guard case .execResult(let result) = reply else {
                    Issue.record("exec answered \(reply.type)")
                    return
                }
                #expect(result.termination == .exited(3))
                #expect(String(decoding: result.stdout, as: UTF8.self) == "out:hello\n")
                #expect(String(decoding: result.stderr, as: UTF8.self) == "err\n")

                let file = "\(scratch.path)/written"
                let written = try await client.request(
                    .writeFile(WriteFileRequest(path: file, mode: 0o600, contents: Array("contents".utf8))),
                    verb: "write file", timeout: .seconds(10)
                )
                #expect(written == .ok)
                #expect(try String(contentsOfFile: file, encoding: .utf8) == "contents")
                let read = try await client.request(.readFile(path: file), verb: "read file", timeout: .seconds(10))
                #expect(read == .fileData(Array("contents".utf8)))

                do {
                    _ = try await client.request(.readFile(path: "\(scratch.path)/missing"), verb: "read file", timeout: .seconds(10))
                    Issue.record("reading a missing file succeeded")
                } catch let error as CorralError {
                    #expect(error.code == .internal && error.message.hasPrefix("failed to read file: "), "\(error.message)")
                }

                let metrics = try await client.request(.metricsRequest, verb: "read metrics", timeout: .seconds(10))
                guard case .metrics(let values) = metrics else {
                    Issue.record("metrics answered \(metrics.type)")
                    return
                }
                #expect(values.memoryTotalKiB > 0 && values.memoryAvailableKiB <= values.memoryTotalKiB)

                // Concurrent requests are matched to their own replies.
                async let first = client.request(.exec(ExecRequest(argv: ["/bin/echo", "one"])), verb: "exec", timeout: .seconds(10))
                async let second = client.request(.exec(ExecRequest(argv: ["/bin/echo", "two"])), verb: "exec", timeout: .seconds(10))
                let (one, two) = try await (first, second)
                if case .execResult(let a) = one, case .execResult(let b) = two {
                    #expect(a.stdout == Array("one\n".utf8) && b.stdout == Array("two\n".utf8))
                } else {
                    Issue.record("concurrent execs answered \(one.type), \(two.type)")
                }

                client.close()
                #expect(await agent.waitExit(timeout: .seconds(10)), "the agent ends when the host closes the channel")
                do {
                    _ = try await client.request(.metricsRequest, verb: "read metrics", timeout: .seconds(2))
                    Issue.record("a request on a closed channel succeeded")
                } catch let error as CorralError {
                    #expect(error.code == .unavailable)
                }
            } catch {
                await agent.kill()
                throw error
            }
        }
    }
}
