/// How a process ended.
public enum ProcessTermination: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)

    /// The shell convention: the exit code, or 128 + the signal number.
    public var shellStatus: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    }
}

/// `ready`: the agent is serving. Sent once, unsolicited, with request id 0.
public struct AgentReady: Equatable, Sendable {
    public var agentVersion: String
    /// `CLOCK_BOOTTIME` of the guest when the agent became ready, in nanoseconds.
    public var bootClockNanoseconds: UInt64

    public init(agentVersion: String, bootClockNanoseconds: UInt64) {
        self.agentVersion = agentVersion
        self.bootClockNanoseconds = bootClockNanoseconds
    }
}

/// `exec`: run one command to completion and return its output.
public struct ExecRequest: Equatable, Sendable {
    /// The command; `argv[0]` without a `/` is looked up in the `PATH` of `environment`.
    public var argv: [String]
    /// `KEY=value` entries laid over the agent's default environment.
    public var environment: [String]
    /// The working directory; nil keeps the agent's (`/`).
    public var workingDirectory: String?
    /// Written to the command's stdin, which is then closed.
    public var stdin: [UInt8]
    /// After this many milliseconds the command's process group is killed; nil waits forever.
    public var timeoutMilliseconds: UInt32?

    public init(
        argv: [String], environment: [String] = [], workingDirectory: String? = nil, stdin: [UInt8] = [],
        timeoutMilliseconds: UInt32? = nil
    ) {
        self.argv = argv
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.stdin = stdin
        self.timeoutMilliseconds = timeoutMilliseconds
    }
}

/// `execResult`: how an `exec` ended.
public struct ExecResult: Equatable, Sendable {
    public var termination: ProcessTermination
    /// The timeout fired and the command was killed (`termination` then says SIGKILL).
    public var timedOut: Bool
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    /// Output beyond the agent's capture limit was discarded.
    public var outputTruncated: Bool

    public init(
        termination: ProcessTermination, timedOut: Bool = false, stdout: [UInt8] = [], stderr: [UInt8] = [],
        outputTruncated: Bool = false
    ) {
        self.termination = termination
        self.timedOut = timedOut
        self.stdout = stdout
        self.stderr = stderr
        self.outputTruncated = outputTruncated
    }
}

/// `writeFile`: replace a guest file atomically (written beside it, then renamed).
public struct WriteFileRequest: Equatable, Sendable {
    public var path: String
    /// Permission bits of the new file.
    public var mode: UInt32
    public var contents: [UInt8]

    public init(path: String, mode: UInt32 = 0o644, contents: [UInt8]) {
        self.path = path
        self.mode = mode
        self.contents = contents
    }
}

/// `metrics`: a snapshot of guest-wide resource use.
public struct GuestMetrics: Equatable, Sendable {
    /// `MemTotal` of `/proc/meminfo`, in KiB.
    public var memoryTotalKiB: UInt64
    /// `MemAvailable` of `/proc/meminfo`, in KiB.
    public var memoryAvailableKiB: UInt64
    /// Aggregate `cpu` line of `/proc/stat`: user + nice, in clock ticks.
    public var cpuUserTicks: UInt64
    /// system + irq + softirq, in clock ticks.
    public var cpuSystemTicks: UInt64
    /// idle + iowait, in clock ticks.
    public var cpuIdleTicks: UInt64
    /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
    public var ticksPerSecond: UInt64

    public init(
        memoryTotalKiB: UInt64, memoryAvailableKiB: UInt64, cpuUserTicks: UInt64, cpuSystemTicks: UInt64,
        cpuIdleTicks: UInt64, ticksPerSecond: UInt64
    ) {
        self.memoryTotalKiB = memoryTotalKiB
        self.memoryAvailableKiB = memoryAvailableKiB
        self.cpuUserTicks = cpuUserTicks
        self.cpuSystemTicks = cpuSystemTicks
        self.cpuIdleTicks = cpuIdleTicks
        self.ticksPerSecond = ticksPerSecond
    }
}
