#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CCorralSpawn

/// The shim's event loop while the workload runs: output into the log, SIGCHLD
/// (through a signalfd) into reaping.
struct Supervisor {
    let workload: pid_t
    private var outputFD: Int32
    private let signalFD: Int32
    private var workloadStatus: Int32?
    private var buffer = [UInt8](repeating: 0, count: 65536)

    init(workload: pid_t, outputFD: Int32, signalFD: Int32) {
        self.workload = workload
        self.outputFD = outputFD
        self.signalFD = signalFD
    }

    /// Copies output to `log` until the workload has been reaped. Returns its wait
    /// status and the wall-clock time it was reaped, in nanoseconds since the epoch.
    mutating func waitForWorkload(log: inout LogWriter) -> (status: Int32, timeNanoseconds: Int64) {
        reapOthers()
        while workloadStatus == nil {
            var fds = [
                pollfd(fd: outputFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 { continue }
            if fds[0].revents != 0 { pump(log: &log) }
            if fds[1].revents != 0 {
                drainSignals()
                reapOthers()
            }
        }
        return (workloadStatus ?? 0, corral_realtime_ns())
    }

    /// Reaps every child that has exited, remembering the workload's status.
    mutating func reapOthers() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            if pid == workload { workloadStatus = status }
        }
    }

    /// Reads the rest of the output once the cgroup is empty: until end of file, or
    /// for at most two seconds if a process outside the cgroup still holds the pipe.
    mutating func drainOutput(log: inout LogWriter) {
        let deadline = corral_monotonic_ns() + 2_000_000_000
        while outputFD >= 0 {
            let now = corral_monotonic_ns()
            if now >= deadline { break }
            var fds = [pollfd(fd: outputFD, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 1, Int32((deadline - now) / 1_000_000) + 1)
            if ready < 0 { continue }
            if ready == 0 { break }
            pump(log: &log)
            reapOthers()
        }
        if outputFD >= 0 { close(outputFD) }
        outputFD = -1
    }

    private mutating func pump(log: inout LogWriter) {
        guard outputFD >= 0 else { return }
        let n = buffer.withUnsafeMutableBytes { read(outputFD, $0.baseAddress, $0.count) }
        if n > 0 {
            buffer.withUnsafeBytes { log.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
            close(outputFD)
            outputFD = -1
        }
    }

    private func drainSignals() {
        var info = signalfd_siginfo()
        while read(signalFD, &info, MemoryLayout<signalfd_siginfo>.size) > 0 {}
    }
}
