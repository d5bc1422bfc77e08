import CorralCore
import Foundation
import Testing

@testable import CorralDriverVM

/// Interactive sessions against a booted VM, called from the boot test so they
/// need no boot of their own.
enum VMExecSessionChecks {
    /// Output gathered from a session until a condition or its end.
    struct Collected {
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var end: ExecSessionEvent?

        var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    /// Takes events until `until` holds, the session ends or `timeout` passes
    /// (which closes the session: a pending `nextEvent` only returns then).
    static func collect(
        _ session: any ExecSession, into collected: inout Collected, timeout: Duration = .seconds(20),
        until: (Collected) -> Bool
    ) async {
        let deadline = ContinuousClock.now + timeout
        while !until(collected), collected.end == nil, ContinuousClock.now < deadline {
            let event = await withTaskGroup(of: ExecSessionEvent??.self) { group in
                group.addTask { .some(await session.nextEvent()) }
                group.addTask {
                    try? await Task.sleep(until: deadline)
                    if !Task.isCancelled { session.close() }
                    return .none
                }
                let first = await group.next() ?? .none
                group.cancelAll()
                return first
            }
            guard case .some(let taken) = event else { return }
            switch taken {
            case .stdout(let bytes)?: collected.stdout += bytes
            case .stderr(let bytes)?: collected.stderr += bytes
            case .exited?, .failed?: collected.end = taken
            case nil: return
            }
        }
    }

    static func run(_ driver: VMDriver, _ uuid: UUID, handle: DriverHandle) async throws {
        // A shell on a terminal.
        let shell = try await driver.startExecSession(
            uuid, handle: handle, request: InteractiveExecRequest(command: ["sh"], terminal: TerminalSize(columns: 80, rows: 24)))
        defer { shell.close() }
        var tty = Collected()
        try await shell.writeInput(Array("echo $((6*7))\n".utf8))
        await collect(shell, into: &tty) { $0.text.contains("\n42\r\n") || $0.text.contains("\r\n42\r\n") }
        #expect(tty.text.contains("42\r\n"), "a shell on a terminal computes: \(tty.text.debugDescription)")
        try shell.resize(TerminalSize(columns: 101, rows: 33))
        try await shell.writeInput(Array("stty size\n".utf8))
        await collect(shell, into: &tty) { $0.text.contains("33 101") }
        #expect(tty.text.contains("33 101"), "the resize reaches the terminal: \(tty.text.debugDescription)")
        try await shell.writeInput(Array("tty; exit 3\n".utf8))
        await collect(shell, into: &tty) { _ in false }
        #expect(tty.end == .exited(3), "\(String(describing: tty.end)), output \(tty.text.debugDescription)")
        #expect(tty.text.contains("/dev/pts/"), "the shell's stdin is a pseudo-terminal")
        #expect(await shell.nextEvent() == nil, "nothing follows the exit")

        // Pipes: 1 MiB through cat and back, stderr apart.
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }
        let cat = try await driver.startExecSession(
            uuid, handle: handle, request: InteractiveExecRequest(command: ["sh", "-c", "echo to-stderr >&2; cat; exit 5"]))
        defer { cat.close() }
        let started = ContinuousClock.now
        let writer = Task {
            var offset = 0
            while offset < payload.count {
                let end = min(offset + 48 * 1024, payload.count)
                try await cat.writeInput(Array(payload[offset..<end]))
                offset = end
            }
            cat.closeInput()
        }
        var piped = Collected()
        await collect(cat, into: &piped, timeout: .seconds(120)) { _ in false }
        try await writer.value
        print("1 MiB through cat in the guest and back: \(ContinuousClock.now - started)")
        #expect(piped.stdout.count == payload.count)
        #expect(piped.stdout == payload, "cat echoes every byte in order")
        #expect(String(decoding: piped.stderr, as: UTF8.self) == "to-stderr\n")
        #expect(piped.end == .exited(5))

        // A consumer that takes nothing for 2 s holds a fast writer back without
        // losing what it wrote before exiting: 256 KiB fill the agent's window, the
        // last 64 KiB wait in the pipe after the command has exited.
        let flood = try await driver.startExecSession(
            uuid, handle: handle, request: InteractiveExecRequest(command: ["sh", "-c", "dd if=/dev/zero bs=65536 count=5 2>/dev/null; exit 6"]))
        defer { flood.close() }
        try await Task.sleep(for: .seconds(2))
        var flooded = Collected()
        await collect(flood, into: &flooded, timeout: .seconds(60)) { _ in false }
        #expect(flooded.stdout.count == 5 << 16 && flooded.stdout.allSatisfy { $0 == 0 }, "\(flooded.stdout.count) bytes")
        #expect(flooded.end == .exited(6))

        // A command that cannot start, and a session killed by close.
        let missing = try await driver.startExecSession(
            uuid, handle: handle, request: InteractiveExecRequest(command: ["/no/such/command"]))
        if case .failed(let error)? = await missing.nextEvent() {
            #expect(error.message.contains("/no/such/command"), "\(error)")
        } else {
            Issue.record("a missing command did not end its session with failed")
        }
        missing.close()
        let sleeper = try await driver.startExecSession(
            uuid, handle: handle, request: InteractiveExecRequest(command: ["sh", "-c", "echo $$ > /tmp/sleeper.pid; exec sleep 600"]))
        try await Task.sleep(for: .seconds(1))
        sleeper.close()
        // The kill travels through the agent; under TCG on a loaded host that takes a while.
        var state = ""
        for _ in 0..<20 where state != "gone\n" {
            try await Task.sleep(for: .milliseconds(250))
            let alive = try await driver.exec(uuid, handle: handle, request: ExecRequest(
                command: ["sh", "-c", "kill -0 $(cat /tmp/sleeper.pid) 2>/dev/null && echo alive || echo gone"]))
            state = String(decoding: alive.stdout, as: UTF8.self)
        }
        #expect(state == "gone\n", "closing a session kills its command")
    }
}
