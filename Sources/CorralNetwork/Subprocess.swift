import CorralCore
import CorralHost

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What a finished command printed and how it ended.
struct CommandOutput: Sendable {
    /// The exit code, or 128 + the signal number when a signal ended it.
    let status: Int32
    let standardOutput: String
    let standardError: String

    var succeeded: Bool { status == 0 }
}

/// Runs a program to completion on the calling thread, bounded in time.
///
/// Blocking: call it only from a dedicated thread (`NamespaceWorker`), never from
/// the Swift cooperative pool. The child inherits the calling thread's network
/// namespace, an empty signal mask and default signal dispositions; its stdin is
/// `input` (or `/dev/null`), its stdout and stderr are captured (up to
/// `outputLimit` bytes each; the rest is read and dropped).
enum Subprocess {
    static let outputLimit = 1 << 20

    static func run(
        _ command: String,
        _ arguments: [String],
        input: String? = nil,
        timeout: Duration
    ) throws(CorralError) -> CommandOutput {
        let commandLine = ([command] + arguments).joined(separator: " ")
        guard let executable = ExecutableLookup.resolve(command) else {
            throw .unavailable("failed to run \(commandLine): \(command) is not installed")
        }
        let stdinFD = try inputDescriptor(input, commandLine: commandLine)
        defer { close(stdinFD) }
        let out = try pipe(commandLine)
        let err: (read: Int32, write: Int32)
        do throws(CorralError) {
            err = try pipe(commandLine)
        } catch {
            close(out.read)
            close(out.write)
            throw error
        }
        let pid: pid_t
        do throws(CorralError) {
            pid = try spawn(executable, [command] + arguments, stdin: stdinFD, stdout: out.write, stderr: err.write, commandLine: commandLine)
        } catch {
            for fd in [out.read, out.write, err.read, err.write] { close(fd) }
            throw error
        }
        close(out.write)
        close(err.write)
        defer {
            close(out.read)
            close(err.read)
        }
        let deadline = HostProcess.monotonicNanoseconds() + nanoseconds(timeout)
        var collected = [[UInt8](), [UInt8]()]
        let drained = drain([out.read, err.read], into: &collected, deadline: deadline)
        let status = drained ? waitForExit(pid, deadline: deadline) : nil
        guard let status else {
            kill(pid, SIGKILL)
            _ = reap(pid)
            throw .timeout("failed to run \(commandLine): no result within \(timeout)")
        }
        return CommandOutput(
            status: status,
            standardOutput: String(decoding: collected[0], as: UTF8.self),
            standardError: String(decoding: collected[1], as: UTF8.self)
        )
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }

    private static func pipe(_ commandLine: String) throws(CorralError) -> (read: Int32, write: Int32) {
        do {
            return try DetachedSpawn.makePipe()
        } catch {
            throw .internal("failed to run \(commandLine): no pipe", cause: error)
        }
    }

    /// A descriptor holding `input` from its start: an unlinked temporary file, so
    /// writing it can neither block nor raise SIGPIPE. `/dev/null` without input.
    private static func inputDescriptor(_ input: String?, commandLine: String) throws(CorralError) -> Int32 {
        guard let input else {
            let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
            if fd < 0 { throw systemFailure("open /dev/null", commandLine) }
            return fd
        }
        var template = Array("/tmp/corral-input-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.map { mkstemp($0) } ?? -1
        }
        if fd < 0 { throw systemFailure("create a temporary file", commandLine) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { buffer in
            if let base = buffer.baseAddress { _ = unlink(base) }
        }
        let bytes = Array(input.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                write(fd, raw.baseAddress.map { $0 + offset }, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                let error = systemFailure("write its input", commandLine)
                close(fd)
                throw error
            }
            offset += written
        }
        if lseek(fd, 0, SEEK_SET) != 0 {
            let error = systemFailure("rewind its input", commandLine)
            close(fd)
            throw error
        }
        return fd
    }

    private static func spawn(
        _ executable: String,
        _ argv: [String],
        stdin: Int32,
        stdout: Int32,
        stderr: Int32,
        commandLine: String
    ) throws(CorralError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var pointers: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        var pid: pid_t = 0
        let rc = pointers.withUnsafeBufferPointer { argvBuffer in
            guard let base = argvBuffer.baseAddress else { return EINVAL }
            return posix_spawn(&pid, executable, &actions, &attributes, base, environ)
        }
        if rc != 0 {
            throw .internal("failed to run \(commandLine): posix_spawn: \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// Reads every descriptor until end of file; false when `deadline` passes first.
    private static func drain(_ fds: [Int32], into collected: inout [[UInt8]], deadline: UInt64) -> Bool {
        var open = Set(fds.indices)
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while !open.isEmpty {
            let now = HostProcess.monotonicNanoseconds()
            if now >= deadline { return false }
            var polls = open.sorted().map { pollfd(fd: fds[$0], events: Int16(POLLIN), revents: 0) }
            let waitMilliseconds = Int32(min(1_000, max(1, (deadline - now) / 1_000_000)))
            let ready = poll(&polls, nfds_t(polls.count), waitMilliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                return false
            }
            for entry in polls where entry.revents != 0 {
                guard let index = fds.firstIndex(of: entry.fd) else { continue }
                let count = buffer.withUnsafeMutableBytes { read(entry.fd, $0.baseAddress, $0.count) }
                if count > 0 {
                    let room = max(0, outputLimit - collected[index].count)
                    collected[index].append(contentsOf: buffer.prefix(min(count, room)))
                } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                    open.remove(index)
                }
            }
        }
        return true
    }

    /// The child's status once it exits, or nil when `deadline` passes first.
    private static func waitForExit(_ pid: pid_t, deadline: UInt64) -> Int32? {
        var pause: useconds_t = 100
        while true {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return decode(status) }
            if result < 0, errno != EINTR { return 127 }
            if HostProcess.monotonicNanoseconds() >= deadline { return nil }
            usleep(pause)
            pause = min(pause * 2, 10_000)
        }
    }

    private static func reap(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, 0)
            if result == pid { return decode(status) }
            if result < 0, errno == EINTR { continue }
            return nil
        }
    }

    private static func decode(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    private static func systemFailure(_ what: String, _ commandLine: String) -> CorralError {
        .internal("failed to run \(commandLine): cannot \(what): \(String(cString: strerror(errno)))")
    }
}
