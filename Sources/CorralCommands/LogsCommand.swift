import ArgumentParser
import CorralAPI
import CorralClient
import Foundation

/// `corral logs`: an instance's console output, optionally followed.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print an instance's console output.",
        discussion: "With -f, keeps printing new output until the instance has stopped and its log is drained.")

    @OptionGroup var global: GlobalOptions

    @Flag(name: [.short, .long], help: "Follow the log.")
    var follow = false

    @Option(name: .long, help: ArgumentHelp("Start with the last N lines only.", valueName: "N"))
    var tail: Int?

    @Argument(help: "The instance name or UUID.")
    var instance: String

    /// How long to sleep between polls while following.
    static let pollInterval: Duration = .milliseconds(200)
    /// The most bytes asked for in one read.
    static let chunk = 1 << 20

    func validate() throws {
        if let tail, tail < 0 { throw ValidationError("--tail must not be negative") }
    }

    func run() async throws {
        let client = try global.makeClient()
        var offset: Int
        if let tail {
            offset = try await printTail(client, lines: tail)
        } else {
            offset = try await drain(client, from: 0).offset
        }
        guard follow else { return }
        // The first read that finds the instance stopped with nothing new is
        // followed by one more, so output written just before the stop that
        // the server had not yet counted is still printed.
        var sawEnd = false
        while true {
            let read = try await drainFollowing(client, from: offset)
            offset = read.offset
            if read.finished {
                if sawEnd { return }
                sawEnd = true
            } else {
                sawEnd = false
                try await Task.sleep(for: Self.pollInterval)
            }
        }
    }

    /// Prints the log from `offset` up to its current end.
    ///
    /// - Returns: where the next read starts and the state the instance was in.
    private func drain(_ client: CorralClient, from start: Int) async throws -> (offset: Int, state: WireInstanceState?) {
        var offset = start
        var state: WireInstanceState?
        while true {
            let logs = try await client.instanceLogs(instance, InstanceLogsRequestBody(offset: offset, limit: Self.chunk))
            state = logs.state
            if let availableStart = logs.available?.start, offset < availableStart {
                offset = availableStart
                continue
            }
            let bytes = logs.outputBytes ?? Data()
            if !bytes.isEmpty { Console.stdout(bytes) }
            let end = logs.range?.end ?? (offset + bytes.count)
            let available = logs.available?.end ?? end
            if end <= offset || end >= available {
                return (max(end, offset), state)
            }
            offset = end
        }
    }

    /// One poll of a follower: prints what is new, and says whether the
    /// instance has stopped (or vanished) with nothing left to read.
    private func drainFollowing(_ client: CorralClient, from offset: Int) async throws -> (offset: Int, finished: Bool) {
        do {
            let read = try await drain(client, from: offset)
            let stopped = read.state == .stopped || read.state == .deleted
            return (read.offset, stopped && read.offset == offset)
        } catch let error as CorralClientError where error.isNotFound {
            return (offset, true)
        }
    }

    /// Prints the last `lines` lines and returns the offset after them.
    private func printTail(_ client: CorralClient, lines: Int) async throws -> Int {
        var window = max(4096, lines * 256)
        while true {
            let probe = try await client.instanceLogs(instance, InstanceLogsRequestBody(offset: -window, limit: window))
            let availableStart = probe.available?.start ?? 0
            let availableEnd = probe.available?.end ?? probe.range?.end ?? 0
            let start = max(availableStart, availableEnd - window)
            var bytes = Data()
            var offset = start
            while offset < availableEnd {
                let logs = try await client.instanceLogs(instance, InstanceLogsRequestBody(offset: offset, limit: Self.chunk))
                let chunk = logs.outputBytes ?? Data()
                let end = logs.range?.end ?? offset + chunk.count
                if chunk.isEmpty || end <= offset { break }
                bytes.append(chunk)
                offset = end
            }
            let newlines = bytes.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            if newlines > lines || start <= availableStart || window >= 64 << 20 {
                Console.stdout(Self.lastLines(bytes, lines))
                return offset
            }
            window *= 4
        }
    }

    /// The last `count` lines of `bytes`, a final line without newline counting as one.
    static func lastLines(_ bytes: Data, _ count: Int) -> Data {
        guard count > 0 else { return Data() }
        var seen = 0
        var index = bytes.endIndex
        if index > bytes.startIndex, bytes[bytes.index(before: index)] == 0x0A {
            index = bytes.index(before: index)
        }
        while index > bytes.startIndex {
            let previous = bytes.index(before: index)
            if bytes[previous] == 0x0A {
                seen += 1
                if seen == count { return bytes[index...] }
            }
            index = previous
        }
        return bytes
    }
}
