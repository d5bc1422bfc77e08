import CCorralSpawn
import CorralAgentProtocol
import Glibc

/// The agent's end of the virtio-serial port in `init` mode.
///
/// The host end comes and goes (daemon restarts). While it is away Linux reads
/// the port as end-of-file and polls it as `POLLHUP`; the port is then treated as
/// disconnected and only looked at again by `checkConnection()`, so nothing spins.
/// Writes never block: frames are queued whole and flushed as the port accepts
/// them; what is queued when the host goes away is dropped, because half a frame
/// must not reach the next connection.
struct HostPort {
    enum Connection: Equatable {
        case connected
        case disconnected
    }

    let fd: Int32
    private(set) var connection = Connection.disconnected
    private(set) var decoder = AgentFrameDecoder()
    private var outgoing: [UInt8] = []
    private var outgoingStart = 0

    /// Opens `path` non-blocking. Throws when it cannot be opened.
    init(path: String) throws(AgentSystemError) {
        fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { throw AgentSystemError("open the host port", call: "open", path: path) }
    }

    var hasPendingOutput: Bool { outgoingStart < outgoing.count }

    /// Bytes queued for the host and not yet written.
    var pendingOutputCount: Int { outgoing.count - outgoingStart }

    /// Polls the port without waiting. Returns true when the host end has just
    /// (re)connected: the decoder then starts afresh.
    mutating func checkConnection() -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        _ = poll(&entry, 1, 0)
        let hungUp = entry.revents & Int16(POLLHUP) != 0
        if hungUp {
            markDisconnected()
            return false
        }
        if connection == .connected { return false }
        connection = .connected
        decoder = AgentFrameDecoder()
        return true
    }

    /// Reads what is available into the decoder. Returns false when the host end
    /// is gone (end of file); what it sent before leaving stays in the decoder, to
    /// be served before `hostLeft()`.
    mutating func receive() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while connection == .connected {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                decoder.append(chunk[0..<count])
                continue
            }
            if count < 0, errno == EINTR { continue }
            if count < 0, errno == EAGAIN { return true }
            return false
        }
        return false
    }

    /// Forgets the connection: queued output and any partial frame are dropped.
    mutating func hostLeft() {
        markDisconnected()
    }

    /// The host end went and came back between a poll and a read: output queued
    /// for the old host is dropped, while what was read (the new host's requests
    /// among it) stays to be served.
    mutating func hostReplaced() {
        outgoing.removeAll()
        outgoingStart = 0
    }

    mutating func nextFrame() throws(AgentProtocolError) -> AgentFrame? {
        try decoder.next()
    }

    /// Queues `message` and writes as much as the port takes now. Dropped when no
    /// host is connected.
    mutating func send(_ message: AgentMessage, requestID: UInt32) {
        guard connection == .connected else { return }
        outgoing.append(contentsOf: message.encoded(requestID: requestID))
        flush()
    }

    /// Writes queued bytes until the port would block.
    mutating func flush() {
        while outgoingStart < outgoing.count, connection == .connected {
            let count = outgoing.withUnsafeBytes {
                write(fd, $0.baseAddress.map { $0 + outgoingStart }, $0.count - outgoingStart)
            }
            if count > 0 {
                outgoingStart += count
                continue
            }
            if count < 0, errno == EINTR { continue }
            if count < 0, errno == EAGAIN {
                // EAGAIN also means the host end has gone; `checkConnection` tells which.
                _ = checkConnection()
                return
            }
            markDisconnected()
        }
        if outgoingStart == outgoing.count {
            outgoing.removeAll(keepingCapacity: outgoing.count <= 1 << 20)
            outgoingStart = 0
        }
    }

    /// Flushes for at most `milliseconds`, waiting for the port to take bytes.
    mutating func drain(milliseconds: Int32) {
        let deadline = monotonicMilliseconds() + Int64(milliseconds)
        while hasPendingOutput, connection == .connected {
            let remaining = deadline - monotonicMilliseconds()
            if remaining <= 0 { return }
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&entry, 1, Int32(min(remaining, 100)))
            flush()
        }
    }

    private mutating func markDisconnected() {
        connection = .disconnected
        outgoing.removeAll()
        outgoingStart = 0
        decoder = AgentFrameDecoder()
    }
}

/// `CLOCK_MONOTONIC` in milliseconds.
func monotonicMilliseconds() -> Int64 {
    Int64(corral_monotonic_ns() / 1_000_000)
}
