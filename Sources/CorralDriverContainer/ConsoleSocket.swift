import CCorralSpawn
import CorralCore
import CorralHost
import CorralShimFormat
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The listening end of an OCI runtime's `--console-socket`: the runtime
/// connects and sends the master of the terminal it allocated.
final class ConsoleSocket: Sendable {
    /// Where the socket is bound.
    let path: String
    /// A private directory made for a socket whose preferred path was too long.
    private let privateDirectory: String?
    private let listener: Int32

    /// Binds at `preferredPath`, or in a fresh private directory under `/tmp` when
    /// that path does not fit a socket address.
    init(preferredPath: String) throws(CorralError) {
        var path = preferredPath
        var directory: String?
        if preferredPath.utf8.count >= 108 {
            var template = Array("/tmp/corral-console-XXXXXX".utf8CString)
            let made = template.withUnsafeMutableBufferPointer { buffer in
                buffer.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) }
            }
            guard let made else {
                throw CorralError(.internal, "failed to create a console socket", cause: SystemCallError.last("mkdtemp"))
            }
            directory = made
            path = "\(made)/console.sock"
        }
        let listener = corral_console_listen(path)
        if listener < 0 {
            let error = SystemCallError.last("bind", path: path)
            if let directory { rmdir(directory) }
            throw CorralError(.internal, "failed to create a console socket", cause: error)
        }
        self.path = path
        self.privateDirectory = directory
        self.listener = listener
    }

    /// Closes the listener and removes the socket file. Call once.
    func remove() {
        close(listener)
        unlink(path)
        if let privateDirectory { rmdir(privateDirectory) }
    }

    /// Waits for the runtime to connect and send the terminal master; returns it
    /// (close-on-exec, blocking). Fails with `unavailable` when the runtime
    /// exited first (its pidfd became readable), the deadline passed, or the
    /// message carried no descriptor.
    func receiveTerminal(watcher: DescriptorWatcher, crunPidfd: Int32, deadline: UInt64) async throws(CorralError) -> Int32 {
        let connection = try await whenReady(listener, watcher: watcher, crunPidfd: crunPidfd, deadline: deadline) {
            let fd = corral_console_accept(listener)
            return fd >= 0 ? fd : (errno == EAGAIN || errno == EINTR ? nil : -1)
        }
        defer { close(connection) }
        return try await whenReady(connection, watcher: watcher, crunPidfd: crunPidfd, deadline: deadline) {
            let fd = corral_console_receive(connection)
            return fd >= 0 ? fd : (errno == EAGAIN || errno == EINTR ? nil : -1)
        }
    }

    /// Calls `attempt` until it gives a descriptor (nil: not yet, -1: failed),
    /// waiting on `fd` in between in short slices so that crun exiting ends the wait.
    private func whenReady(
        _ fd: Int32, watcher: DescriptorWatcher, crunPidfd: Int32, deadline: UInt64, attempt: () -> Int32?
    ) async throws(CorralError) -> Int32 {
        while true {
            if let result = attempt() {
                if result >= 0 { return result }
                throw CorralError(.unavailable, "failed to receive the command's terminal from crun", cause: SystemCallError.last("recvmsg"))
            }
            var exited = [pollfd(fd: crunPidfd, events: Int16(POLLIN), revents: 0)]
            if poll(&exited, 1, 0) > 0 {
                throw .unavailable("failed to receive the command's terminal from crun: crun exited first")
            }
            let now = HostProcess.monotonicNanoseconds()
            if now >= deadline {
                throw .unavailable("failed to receive the command's terminal from crun: none arrived in time")
            }
            let copy = dup(fd)
            if copy < 0 { throw CorralError(.internal, "failed to wait for crun", cause: SystemCallError.last("dup")) }
            if await watcher.waitReadable(copy, deadline: min(deadline, now + 100_000_000)) == .stopped {
                throw .unavailable("failed to receive the command's terminal from crun: the container driver is shutting down")
            }
        }
    }
}
