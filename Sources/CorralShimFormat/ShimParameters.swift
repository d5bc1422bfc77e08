/// Everything `corral-shim` needs to run one workload, written by the driver to
/// `<instance>/shim.params` before it launches the shim with that path as its only
/// argument.
///
/// Encoded as NUL-separated `key`/`value` pairs after a `corral-shim-params 1`
/// header, so arguments and environment values may hold any byte but NUL.
public struct ShimParameters: Equatable, Sendable {
    /// The instance directory; the log, state and exit files live in it under
    /// `InstanceFileNames`.
    public var instanceDirectory: String
    /// Absolute path of the program to exec.
    public var executable: String
    /// `argv`, starting with `argv[0]`.
    public var arguments: [String]
    /// `envp`: `KEY=VALUE` strings.
    public var environment: [String]
    public var workingDirectory: String
    /// A cgroup v2 directory to create the workload in with `CLONE_INTO_CGROUP`;
    /// `cgroupJoin` is the fallback for kernels without it.
    public var cgroup2Directory: String?
    /// The files the workload writes `0` to before exec to join its cgroups, one
    /// per hierarchy (see `InstanceCgroup.joinFiles`).
    public var cgroupJoin: [String]
    /// A `cgroup.procs` file listing the instance's processes.
    public var cgroupMembers: String?
    /// cgroup v1 `freezer.state`, used to stop forks while the remains are killed.
    public var freezerState: String?
    /// cgroup v2 `cgroup.kill`.
    public var cgroupKill: String?
    /// A file with an `oom_kill N` line: v1 `memory.oom_control`, v2 `memory.events`.
    public var oomCounter: String?
    /// Bound on the bytes kept in `log` plus `log.1`; each segment holds half.
    public var logBound: Int64
    /// When set, the shim moves into its own mount namespace before anything else
    /// (see `PrivateMounts`); the workload inherits it.
    public var privateMounts: PrivateMounts?
    /// When set, `executable` is a launcher rather than the workload (see `Launcher`).
    public var launcher: Launcher?
    /// How many descriptors the shim was given after its ready descriptor (4
    /// onwards) to pass on to `executable` as 3 onwards; the shim closes its own
    /// copies once `executable` runs.
    public var passDescriptors: Int
    /// The nice value (0...19) the shim sets on itself first, inherited by what it
    /// starts: 19 for work done ahead of time, such as a standby container.
    public var niceness: Int32

    /// A mount namespace of the shim's own: it receives the host's mount events but
    /// propagates none back, so what is mounted in it is invisible on the host and
    /// disappears with the last process in it.
    public struct PrivateMounts: Equatable, Sendable {
        /// Mount points lazily unmounted in the namespace (the cgroup2 mount of a
        /// hybrid cgroup host, which crun refuses).
        public var detach: [String]
        /// An overlay file system mounted in the namespace before the workload starts.
        public var overlay: OverlayMount?

        public init(detach: [String], overlay: OverlayMount?) {
            self.detach = detach
            self.overlay = overlay
        }
    }

    /// `lowerdir`, `upperdir` and `workdir` of an overlay mounted at `target`.
    public struct OverlayMount: Equatable, Sendable {
        public var lower: String
        public var upper: String
        public var work: String
        public var target: String

        public init(lower: String, upper: String, work: String, target: String) {
            self.lower = lower
            self.upper = upper
            self.work = work
            self.target = target
        }
    }

    /// A program (an OCI runtime's `run --detach`) that starts the workload and exits
    /// 0 once it runs. The workload, orphaned, is reparented to the shim (a child
    /// subreaper), which then supervises it like a workload it started itself.
    public struct Launcher: Equatable, Sendable {
        /// Where the launcher writes the workload's pid.
        public var pidFile: String
        /// Where the launcher writes its own errors; its last line explains a failure.
        public var errorLog: String?

        public init(pidFile: String, errorLog: String?) {
            self.pidFile = pidFile
            self.errorLog = errorLog
        }
    }

    public init(
        instanceDirectory: String,
        executable: String,
        arguments: [String],
        environment: [String],
        workingDirectory: String,
        cgroup2Directory: String?,
        cgroupJoin: [String],
        cgroupMembers: String?,
        freezerState: String?,
        cgroupKill: String?,
        oomCounter: String?,
        logBound: Int64,
        privateMounts: PrivateMounts? = nil,
        launcher: Launcher? = nil,
        passDescriptors: Int = 0,
        niceness: Int32 = 0
    ) {
        self.instanceDirectory = instanceDirectory
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.cgroup2Directory = cgroup2Directory
        self.cgroupJoin = cgroupJoin
        self.cgroupMembers = cgroupMembers
        self.freezerState = freezerState
        self.cgroupKill = cgroupKill
        self.oomCounter = oomCounter
        self.logBound = logBound
        self.privateMounts = privateMounts
        self.launcher = launcher
        self.passDescriptors = passDescriptors
        self.niceness = niceness
    }

    /// Most descriptors a shim passes on.
    public static let maxPassDescriptors = 8

    static let header = "corral-shim-params 1"
    static let recordName = "shim parameters"

    /// Path of a file in the instance directory.
    public func path(_ name: String) -> String { "\(instanceDirectory)/\(name)" }

    public func encode() -> [UInt8] {
        var out = Array(Self.header.utf8)
        out.append(0)
        func put(_ key: String, _ value: String) {
            out.append(contentsOf: key.utf8)
            out.append(0)
            out.append(contentsOf: value.utf8)
            out.append(0)
        }
        put("dir", instanceDirectory)
        put("exe", executable)
        for argument in arguments { put("arg", argument) }
        for variable in environment { put("env", variable) }
        put("cwd", workingDirectory)
        if let cgroup2Directory { put("cgroup2_dir", cgroup2Directory) }
        for file in cgroupJoin { put("cgroup_join", file) }
        if let cgroupMembers { put("cgroup_members", cgroupMembers) }
        if let freezerState { put("freezer_state", freezerState) }
        if let cgroupKill { put("cgroup_kill", cgroupKill) }
        if let oomCounter { put("oom_counter", oomCounter) }
        put("log_bound", String(logBound))
        if let privateMounts {
            put("private_mounts", "1")
            for path in privateMounts.detach { put("detach_mount", path) }
            if let overlay = privateMounts.overlay {
                put("overlay_lower", overlay.lower)
                put("overlay_upper", overlay.upper)
                put("overlay_work", overlay.work)
                put("overlay_target", overlay.target)
            }
        }
        if let launcher {
            put("launcher_pid_file", launcher.pidFile)
            if let errorLog = launcher.errorLog { put("launcher_error_log", errorLog) }
        }
        if passDescriptors > 0 { put("pass_fds", String(passDescriptors)) }
        if niceness != 0 { put("nice", String(niceness)) }
        return out
    }

    public static func parse(_ bytes: [UInt8]) throws(ShimFormatError) -> ShimParameters {
        var fields = bytes.split(separator: 0, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        guard fields.first == header else { throw ShimFormatError(record: recordName, reason: "unknown header") }
        fields.removeFirst()
        guard fields.last == "" else { throw ShimFormatError(record: recordName, reason: "truncated") }
        fields.removeLast()
        guard fields.count % 2 == 0 else { throw ShimFormatError(record: recordName, reason: "odd number of fields") }

        var directory: String?, executable: String?, workingDirectory: String?, logBound: Int64?
        var arguments: [String] = [], environment: [String] = [], cgroupJoin: [String] = []
        var cgroup2Directory: String?, cgroupMembers: String?, freezerState: String?, cgroupKill: String?, oomCounter: String?
        var privateMounts = false, detach: [String] = [], overlay: [String: String] = [:]
        var launcherPIDFile: String?, launcherErrorLog: String?
        var passDescriptors = 0
        var niceness: Int32 = 0
        var index = 0
        while index < fields.count {
            let key = fields[index], value = fields[index + 1]
            index += 2
            switch key {
            case "dir": directory = value
            case "exe": executable = value
            case "arg": arguments.append(value)
            case "env": environment.append(value)
            case "cwd": workingDirectory = value
            case "cgroup2_dir": cgroup2Directory = value
            case "cgroup_join": cgroupJoin.append(value)
            case "cgroup_members": cgroupMembers = value
            case "freezer_state": freezerState = value
            case "cgroup_kill": cgroupKill = value
            case "oom_counter": oomCounter = value
            case "private_mounts":
                guard value == "1" else { throw ShimFormatError(record: recordName, reason: "bad private_mounts '\(value)'") }
                privateMounts = true
            case "detach_mount": detach.append(value)
            case "overlay_lower", "overlay_upper", "overlay_work", "overlay_target": overlay[key] = value
            case "launcher_pid_file": launcherPIDFile = value
            case "launcher_error_log": launcherErrorLog = value
            case "pass_fds":
                guard let count = Int(value), (1...maxPassDescriptors).contains(count) else {
                    throw ShimFormatError(record: recordName, reason: "bad pass_fds '\(value)'")
                }
                passDescriptors = count
            case "nice":
                guard let value = Int32(value), (0...19).contains(value) else {
                    throw ShimFormatError(record: recordName, reason: "bad nice '\(value)'")
                }
                niceness = value
            case "log_bound":
                guard let bound = Int64(value), bound > 0 else {
                    throw ShimFormatError(record: recordName, reason: "bad log_bound '\(value)'")
                }
                logBound = bound
            default: throw ShimFormatError(record: recordName, reason: "unknown key '\(key)'")
            }
        }
        guard let directory else { throw ShimFormatError(record: recordName, reason: "missing 'dir'") }
        guard let executable else { throw ShimFormatError(record: recordName, reason: "missing 'exe'") }
        guard let workingDirectory else { throw ShimFormatError(record: recordName, reason: "missing 'cwd'") }
        guard let logBound else { throw ShimFormatError(record: recordName, reason: "missing 'log_bound'") }
        guard !arguments.isEmpty else { throw ShimFormatError(record: recordName, reason: "no 'arg'") }
        var overlayMount: OverlayMount?
        if !overlay.isEmpty {
            guard privateMounts else { throw ShimFormatError(record: recordName, reason: "an overlay needs private_mounts") }
            guard let lower = overlay["overlay_lower"], let upper = overlay["overlay_upper"],
                  let work = overlay["overlay_work"], let target = overlay["overlay_target"]
            else { throw ShimFormatError(record: recordName, reason: "incomplete overlay") }
            overlayMount = OverlayMount(lower: lower, upper: upper, work: work, target: target)
        }
        guard privateMounts || detach.isEmpty else {
            throw ShimFormatError(record: recordName, reason: "detach_mount needs private_mounts")
        }
        guard launcherPIDFile != nil || launcherErrorLog == nil else {
            throw ShimFormatError(record: recordName, reason: "launcher_error_log needs launcher_pid_file")
        }
        return ShimParameters(
            instanceDirectory: directory,
            executable: executable,
            arguments: arguments,
            environment: environment,
            workingDirectory: workingDirectory,
            cgroup2Directory: cgroup2Directory,
            cgroupJoin: cgroupJoin,
            cgroupMembers: cgroupMembers,
            freezerState: freezerState,
            cgroupKill: cgroupKill,
            oomCounter: oomCounter,
            logBound: logBound,
            privateMounts: privateMounts ? PrivateMounts(detach: detach, overlay: overlayMount) : nil,
            launcher: launcherPIDFile.map { Launcher(pidFile: $0, errorLog: launcherErrorLog) },
            passDescriptors: passDescriptors,
            niceness: niceness
        )
    }
}
