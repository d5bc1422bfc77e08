import CorralCore
import CorralHost
import CorralShimFormat
import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A connected unix stream socket to one QEMU process (its QMP or agent socket).
///
/// Reads are done by the driver's `DescriptorWatcher` thread, one non-blocking
/// `recv` per readiness, so no Swift thread ever waits for the peer; writes run on
/// a serial dispatch queue of the connection's own, bounded by a send timeout, so a
/// guest that stops reading stalls that queue and never the cooperative pool.
/// The watcher owns the read descriptor; the writer owns a duplicate.
final class SocketConnection: Sendable {
    /// How long one `send` may block before the connection is declared dead.
    static let sendTimeoutSeconds = 10

    private let writeFD: Int32
    private let queue: DispatchQueue
    private let closed = Mutex(false)
    let path: String

    /// Connects to `path`. Throws the `connect` error (ENOENT or ECONNREFUSED while
    /// QEMU has not created its socket yet).
    static func connect(path: String) throws(SystemCallError) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw .last("socket") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(fd)
            throw SystemCallError("connect", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if status != 0 {
            let error = SystemCallError.last("connect")
            Glibc.close(fd)
            throw error
        }
        return fd
    }

    /// Connects to `path`, retrying until `deadline` (`CLOCK_MONOTONIC` ns) while the
    /// socket does not exist or refuses, and while `keepTrying` says the listener
    /// may still come.
    static func connect(path: String, deadline: UInt64, keepTrying: @Sendable () -> Bool) async throws(CorralError) -> Int32 {
        var attempts = 0
        while true {
            do {
                return try connect(path: path)
            } catch {
                attempts += 1
                let retriable = error.errno == ENOENT || error.errno == ECONNREFUSED
                guard retriable, HostProcess.monotonicNanoseconds() < deadline, keepTrying() else {
                    throw CorralError(.unavailable, "failed to connect to \(path) after \(attempts) attempts", cause: error)
                }
                try? await Task.sleep(for: .milliseconds(attempts < 50 ? 5 : 50))
            }
        }
    }

    /// Takes over `fd` (also on failure) and starts reading it on `watcher`:
    /// `onBytes` gets each chunk, then `onClose` once at end of stream, on error, or
    /// when the watcher stops. Both run on the watcher thread and must not block.
    init(
        fd: Int32,
        path: String,
        watcher: DescriptorWatcher,
        onBytes: @escaping @Sendable ([UInt8]) -> Void,
        onClose: @escaping @Sendable () -> Void
    ) throws(CorralError) {
        self.path = path
        let duplicate = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        if duplicate < 0 {
            let error = SystemCallError.last("dup")
            Glibc.close(fd)
            throw CorralError(.internal, "failed to open a connection to \(path)", cause: error)
        }
        var timeout = timeval(tv_sec: Self.sendTimeoutSeconds, tv_usec: 0)
        _ = setsockopt(duplicate, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        writeFD = duplicate
        queue = DispatchQueue(label: "corral.vm.socket")
        do {
            try watcher.watch(fd) { event, fd in
                guard event == .readable else {
                    onClose()
                    return .done
                }
                var chunk = [UInt8](repeating: 0, count: 64 * 1024)
                let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                if count < 0, errno == EINTR || errno == EAGAIN { return .keepWatching }
                if count <= 0 {
                    onClose()
                    return .done
                }
                onBytes(Array(chunk[0..<count]))
                return .keepWatching
            }
        } catch {
            Glibc.close(fd)
            Glibc.close(duplicate)
            throw CorralError(.internal, "failed to watch the connection to \(path)", cause: error)
        }
    }

    deinit {
        close()
        Glibc.close(writeFD)
    }

    /// Writes all of `bytes` in order with other sends. Throws `unavailable` when the
    /// connection is closed or the peer stopped reading for the send timeout.
    func send(_ bytes: [UInt8]) async throws(CorralError) {
        let result: Result<Void, CorralError> = await withCheckedContinuation { continuation in
            queue.async { [self] in continuation.resume(returning: sendNow(bytes)) }
        }
        try result.get()
    }

    /// Runs `work` on the connection's queue, in order with sends; for work that
    /// may block briefly (a durable file write) and must precede a reply.
    func enqueue(_ work: @escaping @Sendable () -> Void) {
        queue.async(execute: work)
    }

    /// Writes on the calling thread; only from the connection's queue.
    func sendNow(_ bytes: [UInt8]) -> Result<Void, CorralError> {
        if closed.withLock({ $0 }) { return .failure(.unavailable("failed to write to \(path): the connection is closed")) }
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes {
                Glibc.send(writeFD, $0.baseAddress.map { $0 + offset }, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if count < 0 {
                if errno == EINTR { continue }
                let error = SystemCallError.last("send")
                return .failure(CorralError(.unavailable, "failed to write to \(path)", cause: error))
            }
            offset += count
        }
        return .success(())
    }

    /// Shuts the socket down both ways: the reader sees end of stream and reports
    /// `onClose`; later sends fail. Idempotent.
    func close() {
        let first = closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        if first { _ = shutdown(writeFD, Int32(SHUT_RDWR)) }
    }
}
