import CorralCore
import CorralHost
import Foundation
import Synchronization

/// A client of QEMU's machine protocol (QMP) on its unix socket: JSON objects, one
/// per line. Commands carry ids and are matched with their `return` or `error`;
/// asynchronous events are ignored. The greeting is awaited and capabilities
/// negotiated by `connect`.
public final class QMPClient: Sendable {
    private let connection: SocketConnection
    private let core: Core

    /// Connects to `path` (retrying until `deadline` while `keepTrying` holds) and
    /// negotiates capabilities; on return the client accepts commands.
    public static func connect(
        path: String,
        watcher: DescriptorWatcher,
        deadline: UInt64,
        keepTrying: @escaping @Sendable () -> Bool = { true }
    ) async throws(CorralError) -> QMPClient {
        let fd = try await SocketConnection.connect(path: path, deadline: deadline, keepTrying: keepTrying)
        let client = try QMPClient(fd: fd, path: path, watcher: watcher)
        let now = HostProcess.monotonicNanoseconds()
        let remaining = Duration.nanoseconds(Int64(deadline > now ? deadline - now : 0)) + .seconds(1)
        let greeting = await client.core.replies.wait(
            Core.greetingKey, timeout: remaining, timeoutError: .timeout("failed to connect to QMP at \(path): no greeting")
        )
        do {
            _ = try greeting.get()
            _ = try await client.execute("qmp_capabilities", timeout: remaining)
        } catch {
            client.close()
            throw error
        }
        return client
    }

    private init(fd: Int32, path: String, watcher: DescriptorWatcher) throws(CorralError) {
        let core = Core()
        core.replies.open(Core.greetingKey)
        self.core = core
        connection = try SocketConnection(
            fd: fd, path: path, watcher: watcher,
            onBytes: { core.received($0) },
            onClose: { core.replies.closeAll(.unavailable("QMP connection closed")) }
        )
    }

    deinit {
        connection.close()
    }

    /// Closes the connection; pending commands fail with `unavailable`.
    public func close() {
        connection.close()
        core.replies.closeAll(.unavailable("QMP connection closed"))
    }

    /// Runs `command` with `arguments` (a JSON object) and returns its `return`
    /// value as JSON. An `error` reply throws `internal` with QEMU's description.
    @discardableResult
    public func execute(
        _ command: String, arguments: [String: any Sendable]? = nil, timeout: Duration = .seconds(10)
    ) async throws(CorralError) -> Data {
        let id = core.nextID()
        var object: [String: Any] = ["execute": command, "id": id]
        if let arguments { object["arguments"] = arguments }
        let line: Data
        do {
            line = try JSONSerialization.data(withJSONObject: object)
        } catch {
            throw CorralError(.internal, "failed to run QMP command \(command): cannot encode it", cause: error)
        }
        core.replies.open(id)
        do {
            try await connection.send(Array(line) + [UInt8(ascii: "\n")])
        } catch {
            core.replies.resolve(id, .failure(error))
        }
        let result = await core.replies.wait(
            id, timeout: timeout, timeoutError: .timeout("failed to run QMP command \(command): no answer within \(timeout)")
        )
        switch result {
        case .success(let data): return data
        case .failure(let error) where error.message.hasPrefix("failed to run QMP"): throw error
        case .failure(let error): throw CorralError(error.code, "failed to run QMP command \(command): \(error.message)")
        }
    }

    /// `query-status`'s `status`: `running`, `paused`, `shutdown`, …
    public func status() async throws(CorralError) -> String {
        let data = try await execute("query-status")
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let status = object["status"] as? String
        else { throw .internal("failed to run QMP command query-status: no status in its answer") }
        return status
    }
}

extension QMPClient {
    final class Core: Sendable {
        /// The slot the greeting resolves; command ids start at 1.
        static let greetingKey = 0
        let replies = ReplySlots<Int, Data>()
        private let state = Mutex<(buffer: [UInt8], nextID: Int)>(([], 1))

        func nextID() -> Int {
            state.withLock { state in
                defer { state.nextID += 1 }
                return state.nextID
            }
        }

        /// Runs on the watcher thread.
        func received(_ bytes: [UInt8]) {
            let lines: [[UInt8]] = state.withLock { state in
                state.buffer.append(contentsOf: bytes)
                var lines: [[UInt8]] = []
                while let newline = state.buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    lines.append(Array(state.buffer[..<newline]))
                    state.buffer.removeSubrange(...newline)
                }
                return lines
            }
            for line in lines { handle(line) }
        }

        private func handle(_ line: [UInt8]) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { return }
            if object["QMP"] != nil {
                replies.resolve(Self.greetingKey, .success(Data(line)))
                return
            }
            guard let id = object["id"] as? Int else { return }
            if let error = object["error"] as? [String: Any] {
                let description = error["desc"] as? String ?? "unknown error"
                replies.resolve(id, .failure(.internal("failed to run QMP command: \(description)")))
            } else if let value = object["return"] {
                let data = (try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed])) ?? Data("{}".utf8)
                replies.resolve(id, .success(data))
            }
        }
    }
}

extension QMPClient {
    /// Whether the connection is still open.
    public var isOpen: Bool { !core.replies.isClosed }
}
