import CorralCore
import CorralDriverContainer
import CorralHost
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension ContainerDriverTests {
    @Test func filesWrittenFromTheHostAreSeenInsideAndReadBack() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["sleep", "60"])
            let handle = started.handle
            try await fixture.driver.writeFile(uuid, handle: handle, path: "/tmp/hello.txt", contents: Array("hello\n".utf8), mode: 0o640)
            let cat = try await fixture.driver.exec(uuid, handle: handle, request: ExecRequest(
                command: ["sh", "-c", "cat /tmp/hello.txt; stat -c %a /tmp/hello.txt"]
            ))
            #expect(String(decoding: cat.stdout, as: UTF8.self) == "hello\n640\n")
            #expect(try await fixture.driver.readFile(uuid, handle: handle, path: "/tmp/hello.txt") == Array("hello\n".utf8))

            let missing = await CorralError.caught { _ = try await fixture.driver.readFile(uuid, handle: handle, path: "/tmp/nope") }
            #expect(missing?.code == .notFound)
            let directory = await CorralError.caught { _ = try await fixture.driver.readFile(uuid, handle: handle, path: "/tmp") }
            #expect(directory?.code == .invalidArgument)
        }
    }

    @Test func pathsCannotReachTheHostsFiles() async throws {
        try await withFixture { fixture in
            let (uuid, started) = try await fixture.start(["sleep", "60"])
            let handle = started.handle
            let hostPasswd = try #require(FileManager.default.contents(atPath: "/etc/passwd"))
            #expect(String(decoding: hostPasswd, as: UTF8.self) != BusyboxRootfs.passwd)

            let traversal = try await fixture.driver.readFile(uuid, handle: handle, path: "/../../../../etc/passwd")
            #expect(String(decoding: traversal, as: UTF8.self) == BusyboxRootfs.passwd)

            let links = try await fixture.driver.exec(uuid, handle: handle, request: ExecRequest(command: [
                "sh", "-c", "ln -s /etc/shadow /tmp/shadow && ln -s ../../../../../../etc/passwd /tmp/up && ln -s /../../../tmp /escape",
            ]))
            #expect(links.exitCode == 0)
            let shadow = try await fixture.driver.readFile(uuid, handle: handle, path: "/tmp/shadow")
            #expect(String(decoding: shadow, as: UTF8.self) == BusyboxRootfs.shadow)
            let up = try await fixture.driver.readFile(uuid, handle: handle, path: "/tmp/up")
            #expect(String(decoding: up, as: UTF8.self) == BusyboxRootfs.passwd)
            let magic = await CorralError.caught { _ = try await fixture.driver.readFile(uuid, handle: handle, path: "/proc/1/root/etc/passwd") }
            #expect(magic != nil)

            let marker = "corral-escape-\(uuid.uuidString.lowercased())"
            try await fixture.driver.writeFile(uuid, handle: handle, path: "/escape/\(marker)", contents: Array("x".utf8), mode: 0o644)
            #expect(!FileManager.default.fileExists(atPath: "/tmp/\(marker)"))
            let inside = try await fixture.driver.exec(uuid, handle: handle, request: ExecRequest(command: ["cat", "/tmp/\(marker)"]))
            #expect(String(decoding: inside.stdout, as: UTF8.self) == "x")

            try await fixture.driver.writeFile(uuid, handle: handle, path: "/tmp/shadow", contents: Array("replaced\n".utf8), mode: 0o600)
            let hostShadow = try String(contentsOfFile: "/etc/shadow", encoding: .utf8)
            #expect(!hostShadow.contains("replaced"))
            let stillTheImages = try await fixture.driver.exec(uuid, handle: handle, request: ExecRequest(command: ["cat", "/etc/shadow"]))
            #expect(String(decoding: stillTheImages.stdout, as: UTF8.self) == BusyboxRootfs.shadow)
        }
    }
}
