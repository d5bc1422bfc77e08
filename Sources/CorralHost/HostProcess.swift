import CCorralSpawn
import CorralShimFormat

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Processes identified by pid and start time (field 22 of `/proc/PID/stat`), so a
/// reused pid is never mistaken for the process it once named.
public enum HostProcess {
    /// The start time of `pid`, in clock ticks after boot; nil when it does not exist.
    public static func startTime(of pid: Int32) -> UInt64? {
        ProcStat.read(pid: pid)?.startTime
    }

    /// Whether `pid` is alive (not a zombie) and started at `startTime`.
    public static func isAlive(pid: Int32, startTime: UInt64) -> Bool {
        ProcStat.isAlive(pid: pid, startTime: startTime)
    }

    /// A pidfd for `pid` that is known to refer to the process that started at
    /// `startTime`: the start time is checked after the descriptor is open, when the
    /// pid can no longer be reused under it. Nil when that process is gone.
    public static func openPidfd(pid: Int32, startTime: UInt64) -> Int32? {
        guard pid > 0 else { return nil }
        let fd = corral_pidfd_open(pid)
        guard fd >= 0 else { return nil }
        guard isAlive(pid: pid, startTime: startTime) else {
            close(fd)
            return nil
        }
        return fd
    }

    /// A pidfd for `pid`, which must be an unreaped child of this process (so the
    /// pid cannot have been reused). Nil when pidfds are unsupported.
    public static func openPidfd(childPID pid: Int32) -> Int32? {
        guard pid > 0 else { return nil }
        let fd = corral_pidfd_open(pid)
        return fd >= 0 ? fd : nil
    }

    /// Sends `signal` to the process `pid` that started at `startTime`. Returns
    /// whether it was delivered; false when that process no longer exists.
    @discardableResult
    public static func signal(pid: Int32, startTime: UInt64, _ signal: Int32) -> Bool {
        guard let fd = openPidfd(pid: pid, startTime: startTime) else { return false }
        defer { close(fd) }
        return corral_pidfd_send_signal(fd, signal) == 0
    }

    /// Sends `signal` to the process group led by `pid` and to `pid` itself, if the
    /// leader is the process that started at `startTime`. Returns whether the
    /// leader was found.
    @discardableResult
    public static func signalGroup(leader pid: Int32, startTime: UInt64, _ signal: Int32) -> Bool {
        guard let fd = openPidfd(pid: pid, startTime: startTime) else { return false }
        defer { close(fd) }
        // While the pidfd is open and the leader alive, its pgid cannot name another group.
        if ProcStat.read(pid: pid)?.processGroup == pid { Glibc.kill(-pid, signal) }
        _ = corral_pidfd_send_signal(fd, signal)
        return true
    }

    /// Reaps `pid` if it is an exited child of this process; a no-op otherwise.
    /// Returns the wait status when a child was reaped.
    @discardableResult
    public static func reapIfChild(_ pid: Int32) -> Int32? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return status }
            if result < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// `CLOCK_MONOTONIC` in nanoseconds, the clock `corral-shim` stamps exec with.
    public static func monotonicNanoseconds() -> UInt64 { corral_monotonic_ns() }
}

extension HostProcess {
    /// Waits for the child `pid` to exit and reaps it; nil when it is not a child.
    /// Blocks the calling thread: only for a child known to be exiting.
    static func waitBlocking(_ pid: Int32) -> Int32? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, 0)
            if result == pid { return status }
            if result < 0 && errno == EINTR { continue }
            return nil
        }
    }
}

extension HostProcess {
    /// What a process does with a signal, from `/proc/PID/status`.
    public enum SignalDisposition: Sendable, Equatable {
        /// Neither handled, ignored nor blocked: the default action applies.
        case `default`
        case handled
        case ignored
        case blocked
    }

    /// The disposition of `signal` in the process `pid` that started at
    /// `startTime`; nil when that process is gone.
    public static func signalDisposition(pid: Int32, startTime: UInt64, _ signal: Int32) -> SignalDisposition? {
        guard signal > 0, signal <= 64, isAlive(pid: pid, startTime: startTime),
              let bytes = try? RawFile.read("/proc/\(pid)/status", limit: 1 << 16),
              isAlive(pid: pid, startTime: startTime)
        else { return nil }
        var masks: [String: UInt64] = [:]
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let text = String(decoding: line, as: UTF8.self)
            for key in ["SigBlk", "SigIgn", "SigCgt"] where text.hasPrefix("\(key):") {
                let value = text.dropFirst(key.count + 1).drop(while: { $0 == "\t" || $0 == " " })
                masks[key] = UInt64(value, radix: 16)
            }
        }
        let bit: UInt64 = 1 << UInt64(signal - 1)
        if (masks["SigCgt"] ?? 0) & bit != 0 { return .handled }
        if (masks["SigIgn"] ?? 0) & bit != 0 { return .ignored }
        if (masks["SigBlk"] ?? 0) & bit != 0 { return .blocked }
        return .default
    }
}
