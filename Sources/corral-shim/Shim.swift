#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CCorralSpawn
import CorralShimFormat

/// `corral-shim <parameters-file>`: supervises one workload of one instance.
///
/// The driver starts it detached (own session, stdio on /dev/null) with the write
/// end of a pipe on fd 3. The shim starts the workload in the instance's cgroups,
/// writes one `ReadyMessage` line on fd 3, writes the `StateRecord`, copies the
/// workload's output into the bounded log, reaps it, kills whatever remains in its
/// cgroups, writes the `ExitRecord` on fd 3 and closes it (the driver reports the
/// exit from that, not from the shim's own exit, which unmounts the rootfs), then
/// writes the record durably to the instance directory for a driver that was not
/// listening, and exits 0. It exits non-zero only when the workload never started.
enum Shim {
    static let readyFD: Int32 = 3

    static func run(arguments: [String]) -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        _ = fcntl(readyFD, F_SETFD, FD_CLOEXEC)

        guard arguments.count == 2 else {
            return fail(stage: "usage", errno: 0, "usage: corral-shim <parameters-file>")
        }
        let parameters: ShimParameters
        do {
            guard let bytes = try RawFile.read(arguments[1]) else {
                return fail(stage: "parameters", errno: ENOENT, "\(arguments[1]): no such file")
            }
            parameters = try ShimParameters.parse(bytes)
        } catch let error as SystemCallError {
            return fail(stage: "parameters", errno: error.errno, error.description)
        } catch {
            return fail(stage: "parameters", errno: 0, "\(error)")
        }
        return supervise(parameters)
    }

    private static func supervise(_ parameters: ShimParameters) -> Int32 {
        // Orphans of the workload are reparented to the shim, so it can reap them.
        _ = corral_set_child_subreaper()
        if parameters.niceness != 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, parameters.niceness) }
        if let privateMounts = parameters.privateMounts {
            if let failure = enterPrivateMounts(privateMounts) { return failure }
        }

        var childSignals = sigset_t()
        sigemptyset(&childSignals)
        sigaddset(&childSignals, SIGCHLD)
        sigprocmask(SIG_BLOCK, &childSignals, nil)
        let signalFD = signalfd(-1, &childSignals, Int32(SFD_CLOEXEC | SFD_NONBLOCK))
        if signalFD < 0 { return fail(stage: "signalfd", errno: errno, "signalfd: \(SystemCallError.describe(errno: errno))") }

        var cgroupFDs: [Int32] = []
        for path in parameters.cgroupJoin {
            let fd = open(path, O_WRONLY | O_CLOEXEC)
            if fd < 0 { return fail(stage: "cgroup", errno: errno, "open \(path): \(SystemCallError.describe(errno: errno))") }
            cgroupFDs.append(fd)
        }
        var cgroup2FD: Int32 = -1
        if let directory = parameters.cgroup2Directory {
            cgroup2FD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if cgroup2FD < 0 { return fail(stage: "cgroup", errno: errno, "open \(directory): \(SystemCallError.describe(errno: errno))") }
        }
        let oomBefore = parameters.oomCounter.flatMap { readOOMCount($0) } ?? 0

        var log: LogWriter
        do {
            log = try LogWriter(parameters: parameters)
        } catch {
            return fail(stage: "log", errno: error.errno, error.description)
        }

        var output: [Int32] = [0, 0]
        if corral_pipe_cloexec(&output) != 0 { return fail(stage: "pipe", errno: errno, "pipe: \(SystemCallError.describe(errno: errno))") }
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        if devNull < 0 { return fail(stage: "stdio", errno: errno, "open /dev/null: \(SystemCallError.describe(errno: errno))") }

        let shimStart = ProcStat.read(pid: getpid())?.startTime ?? 0
        var result = corral_spawn_result()
        let passed = (0..<parameters.passDescriptors).map { readyFD + 1 + Int32($0) }
        let spawned = withCStrings(parameters.arguments) { argv in
            withCStrings(parameters.environment) { envp in
                cgroupFDs.withUnsafeBufferPointer { fds in
                    passed.withUnsafeBufferPointer { pass in
                        corral_spawn(
                            parameters.executable, argv, envp, parameters.workingDirectory,
                            cgroup2FD, fds.baseAddress, Int32(fds.count), devNull, output[1], output[1],
                            pass.baseAddress, Int32(pass.count), &result
                        )
                    }
                }
            }
        }
        var execDone = corral_monotonic_ns()
        // Only the launcher and what it starts may hold these: a peer waiting for
        // the last holder to close one (end of file) must not wait on the shim.
        for fd in passed { close(fd) }
        close(output[1])
        close(devNull)
        for fd in cgroupFDs { close(fd) }
        if cgroup2FD >= 0 { close(cgroup2FD) }
        if spawned != 0 {
            return fail(stage: stageName(result.stage), errno: result.error, spawnFailure(result, parameters))
        }

        var workload = result.pid
        if let launcher = parameters.launcher {
            switch awaitLaunch(launcherPID: result.pid, launcher, executable: parameters.executable) {
            case .success(let pid): workload = pid
            case .failure(let failure): return fail(stage: "runtime", errno: failure.errno, failure.message)
            }
            execDone = corral_monotonic_ns()
        }
        let workloadStart = ProcStat.read(pid: workload)?.startTime ?? 0
        let ready = ReadyMessage.started(
            shimPID: getpid(), shimStartTime: shimStart, workloadPID: workload,
            workloadStartTime: workloadStart, execDoneMonotonicNanoseconds: execDone
        )
        _ = try? RawFile.writeAll(fd: readyFD, ready.encode())
        let state = StateRecord(shimPID: getpid(), shimStartTime: shimStart, workloadPID: workload, workloadStartTime: workloadStart)
        try? RawFile.writeAtomically(parameters.path(InstanceFileNames.state), state.encode(), durable: false)

        var supervisor = Supervisor(workload: workload, outputFD: output[0], signalFD: signalFD)
        let (status, exitTime) = supervisor.waitForWorkload(log: &log)

        let reaper = CgroupReaper(parameters: parameters)
        if parameters.cgroupMembers == nil {
            kill(-workload, SIGKILL)
        } else {
            reaper.killAll { supervisor.reapOthers() }
        }
        supervisor.drainOutput(log: &log)

        let oomAfter = parameters.oomCounter.flatMap { readOOMCount($0) } ?? 0
        let record = ExitRecord(
            shimPID: getpid(),
            shimStartTime: shimStart,
            workloadPID: workload,
            termination: termination(of: status),
            oomKilled: oomAfter > oomBefore,
            timeNanoseconds: exitTime
        )
        // A driver that restarted meanwhile left no reader: EPIPE, and the file below.
        _ = try? RawFile.writeAll(fd: readyFD, record.encode())
        close(readyFD)
        do {
            try RawFile.writeAtomically(parameters.path(InstanceFileNames.exit), record.encode(), durable: true)
        } catch {
            return 2
        }
        return 0
    }

    /// Moves into the private mount namespace and mounts the overlay. Returns the
    /// shim's exit code on failure, nil on success.
    private static func enterPrivateMounts(_ mounts: ShimParameters.PrivateMounts) -> Int32? {
        var failedIndex: Int32 = -1
        let entered = withCStrings(mounts.detach) { paths in
            corral_enter_private_mounts(paths, Int32(mounts.detach.count), &failedIndex)
        }
        if entered != 0 {
            let reason = SystemCallError.describe(errno: errno)
            if failedIndex >= 0, Int(failedIndex) < mounts.detach.count {
                return fail(stage: "mounts", errno: errno, "cannot unmount \(mounts.detach[Int(failedIndex)]) in a private mount namespace: \(reason)")
            }
            return fail(stage: "mounts", errno: errno, "cannot enter a private mount namespace: \(reason)")
        }
        if let overlay = mounts.overlay,
           corral_mount_overlay(overlay.lower, overlay.upper, overlay.work, overlay.target) != 0 {
            return fail(
                stage: "rootfs", errno: errno,
                "cannot mount the overlay at \(overlay.target) (lower \(overlay.lower)): \(SystemCallError.describe(errno: errno))"
            )
        }
        return nil
    }

    struct LaunchFailure: Error {
        let errno: Int32
        let message: String
    }

    /// Waits for the launcher to exit and returns the workload it left behind, which
    /// must now be the shim's child.
    private static func awaitLaunch(
        launcherPID: pid_t,
        _ launcher: ShimParameters.Launcher,
        executable: String
    ) -> Result<pid_t, LaunchFailure> {
        var status: Int32 = 0
        while waitpid(launcherPID, &status, 0) < 0 {
            if errno != EINTR {
                return .failure(LaunchFailure(errno: errno, message: "waitpid \(executable): \(SystemCallError.describe(errno: errno))"))
            }
        }
        let reason = launcher.errorLog.flatMap(lastLine)
        switch termination(of: status) {
        case .exited(code: 0):
            break
        case .exited(let code):
            return .failure(LaunchFailure(errno: 0, message: reason ?? "\(executable) exited with code \(code)"))
        case .signaled(let signal):
            return .failure(LaunchFailure(errno: 0, message: reason ?? "\(executable) was killed by signal \(signal)"))
        }
        guard let bytes = try? RawFile.read(launcher.pidFile, limit: 64),
              let pid = Int32(String(decoding: bytes.filter { $0 != UInt8(ascii: "\n") }, as: UTF8.self)), pid > 0
        else {
            return .failure(LaunchFailure(errno: 0, message: "\(executable) left no workload pid in \(launcher.pidFile)"))
        }
        // The launcher's helper processes may outlive it by a moment; the workload
        // is reparented to the shim when the last of them exits.
        let deadline = corral_monotonic_ns() + 2_000_000_000
        while true {
            guard let stat = ProcStat.read(pid: pid) else {
                return .failure(LaunchFailure(errno: 0, message: "the workload (pid \(pid)) started by \(executable) is gone"))
            }
            if stat.parentPID == getpid() { return .success(pid) }
            if corral_monotonic_ns() >= deadline {
                return .failure(LaunchFailure(
                    errno: 0, message: "the workload (pid \(pid)) started by \(executable) did not become a child of corral-shim"
                ))
            }
            usleep(100)
        }
    }

    /// The last non-empty line of a small text file.
    private static func lastLine(_ path: String) -> String? {
        guard let bytes = try? RawFile.read(path, limit: 1 << 16) else { return nil }
        let lines = bytes.split(separator: UInt8(ascii: "\n")).filter { !$0.allSatisfy { $0 == UInt8(ascii: " ") } }
        return lines.last.map { String(decoding: $0, as: UTF8.self) }
    }

    private static func termination(of status: Int32) -> ExitRecord.Termination {
        let signal = status & 0x7f
        if signal == 0 { return .exited(code: (status >> 8) & 0xff) }
        return .signaled(signal: signal)
    }

    private static func readOOMCount(_ path: String) -> UInt64? {
        guard let bytes = try? RawFile.read(path) else { return nil }
        return OOMCounter.parse(bytes)
    }

    private static func stageName(_ stage: Int32) -> String {
        switch stage {
        case Int32(CORRAL_SPAWN_STAGE_PIPE.rawValue): "pipe"
        case Int32(CORRAL_SPAWN_STAGE_FORK.rawValue): "fork"
        case Int32(CORRAL_SPAWN_STAGE_CGROUP.rawValue): "cgroup"
        case Int32(CORRAL_SPAWN_STAGE_SETSID.rawValue): "setsid"
        case Int32(CORRAL_SPAWN_STAGE_STDIO.rawValue): "stdio"
        case Int32(CORRAL_SPAWN_STAGE_CHDIR.rawValue): "chdir"
        case Int32(CORRAL_SPAWN_STAGE_MOUNTS.rawValue): "mounts"
        default: "exec"
        }
    }

    private static func spawnFailure(_ result: corral_spawn_result, _ parameters: ShimParameters) -> String {
        let reason = SystemCallError.describe(errno: result.error)
        switch result.stage {
        case Int32(CORRAL_SPAWN_STAGE_CGROUP.rawValue):
            let index = Int(result.index)
            let path = index < parameters.cgroupJoin.count ? parameters.cgroupJoin[index] : "cgroup"
            return "cannot join cgroup \(path): \(reason)"
        case Int32(CORRAL_SPAWN_STAGE_CHDIR.rawValue):
            return "cannot change to \(parameters.workingDirectory): \(reason)"
        case Int32(CORRAL_SPAWN_STAGE_EXEC.rawValue):
            return "\(parameters.executable): \(reason)"
        default:
            return "\(stageName(result.stage)): \(reason)"
        }
    }

    /// Reports a failure to start on the ready descriptor and returns the exit code.
    private static func fail(stage: String, errno: Int32, _ message: String) -> Int32 {
        _ = try? RawFile.writeAll(fd: readyFD, ReadyMessage.failed(stage: stage, errno: errno, message: message).encode())
        close(readyFD)
        return 1
    }

    /// Calls `body` with a NULL-terminated array of C strings that lives for the call.
    private static func withCStrings<R>(
        _ strings: [String],
        _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>?) -> R
    ) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
