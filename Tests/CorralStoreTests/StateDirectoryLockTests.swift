import CorralCore
import CorralStore
import Foundation
import Testing

@Suite("StateDirectoryLock")
struct StateDirectoryLockTests {
    @Test("a second store on the same directory fails with unavailable until the first closes")
    func secondOpenerFails() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let first = try SQLiteStateStore(directory: dir.path)
        try await first.insert([fullRecord(name: "web", phase: .stopped)])

        let error = #expect(throws: CorralError.self) { try SQLiteStateStore(directory: dir.path) }
        #expect(error?.code == .unavailable)
        #expect(error?.message == "failed to open state: another corrald is using \(dir.path)")

        try first.close()
        let second = try SQLiteStateStore(directory: dir.path)
        #expect(try await second.load().instances.map(\.name) == ["web"])
    }

    @Test("a store that is released without close() gives the lock back")
    func storeDeinitReleases() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        do {
            let store = try SQLiteStateStore(directory: dir.path)
            try await store.insert([fullRecord(name: "web", phase: .stopped)])
        }
        let again = try SQLiteStateStore(directory: dir.path)
        #expect(try await again.load().instances.map(\.name) == ["web"])
    }

    @Test("releasing the lock object releases the lock; release is idempotent")
    func deinitReleases() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        do {
            let lock = try StateDirectoryLock(directory: dir.path)
            #expect(lock.isHeld)
        }
        let again = try StateDirectoryLock(directory: dir.path)
        again.release()
        again.release()
        #expect(!again.isHeld)
    }

    @Test("the lock file names the holder's pid")
    func lockFileHoldsPID() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let lock = try StateDirectoryLock(directory: dir.path)
        let text = try String(contentsOfFile: lock.path, encoding: .utf8)
        #expect(text == "\(ProcessInfo.processInfo.processIdentifier)\n")
    }

    @Test(
        "another process cannot take the lock while a store holds it",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/flock"), "needs util-linux flock(1)")
    )
    func otherProcessIsLockedOut() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try SQLiteStateStore(directory: dir.path)
        let lockFile = dir.path + "/" + StateDirectoryLock.fileName

        #expect(try runFlock(lockFile) == 1)
        try store.close()
        // A child another test is spawning at this moment shares the lock's open file
        // description until it execs, so the release is awaited, within bounds.
        var code = try runFlock(lockFile)
        for _ in 0..<40 where code != 0 {
            Thread.sleep(forTimeInterval: 0.05)
            code = try runFlock(lockFile)
        }
        #expect(code == 0)
    }

    /// Runs `flock --nonblock --conflict-exit-code 1 FILE true` and returns its exit code.
    private func runFlock(_ file: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        process.arguments = ["--nonblock", "--conflict-exit-code", "1", file, "true"]
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}
