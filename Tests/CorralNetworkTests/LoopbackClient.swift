import CorralCore
import CorralHost
import Foundation

@testable import CorralNetwork

#if canImport(Glibc)
import Glibc
#endif

/// A plain TCP client on its own thread inside a test's namespace, to drive
/// published ports byte by byte.
enum LoopbackClient {
    struct Exchange: Sendable {
        /// Everything read before end of file.
        var received: [UInt8]
        /// Whether the server closed the connection (end of file) before the deadline.
        var sawEndOfFile: Bool
    }

    /// Connects to `127.0.0.1:port` from inside `namespacePath`, writes `payload`
    /// (shutting down the write side after it when `halfClose`), and reads until
    /// the server closes or `timeout` passes.
    static func exchange(
        namespacePath: String,
        port: Int,
        payload: [UInt8],
        halfClose: Bool = true,
        afterConnect: (@Sendable () async -> Void)? = nil,
        timeout: Duration = .seconds(20)
    ) async throws -> Exchange {
        let fd = try await NamespaceWorker(name: "corral-test-client", namespacePath: namespacePath).run { () throws(CorralError) in
            try connect(port: port)
        }
        defer { close(fd) }
        if let afterConnect { await afterConnect() }
        return try await NamespaceWorker(name: "corral-test-client-io", namespacePath: nil).run { () throws(CorralError) in
            try pump(fd, payload: payload, halfClose: halfClose, timeout: timeout)
        }
    }

    private static func connect(port: Int) throws(CorralError) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw .internal("socket failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 {
            let code = errno
            close(fd)
            throw .unavailable("connect to 127.0.0.1:\(port) failed: errno \(code)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        return fd
    }

    private static func pump(_ fd: Int32, payload: [UInt8], halfClose: Bool, timeout: Duration) throws(CorralError) -> Exchange {
        let deadline = ContinuousClock.now + timeout
        var sent = 0
        var shutDown = false
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while ContinuousClock.now < deadline {
            if sent == payload.count, halfClose, !shutDown {
                shutdown(fd, Int32(SHUT_WR))
                shutDown = true
            }
            var events = Int16(POLLIN)
            if sent < payload.count { events |= Int16(POLLOUT) }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ready = poll(&entry, 1, 100)
            if ready < 0, errno != EINTR { throw .internal("poll failed: errno \(errno)") }
            if ready <= 0 { continue }
            if entry.revents & Int16(POLLOUT) != 0, sent < payload.count {
                let count = payload.withUnsafeBytes { raw in
                    send(fd, raw.baseAddress.map { $0 + sent }, min(raw.count - sent, 65_536), Int32(MSG_NOSIGNAL))
                }
                if count > 0 { sent += count }
            }
            if entry.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count > 0 {
                    received.append(contentsOf: buffer.prefix(count))
                } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                    return Exchange(received: received, sawEndOfFile: true)
                }
            }
        }
        return Exchange(received: received, sawEndOfFile: false)
    }
}
