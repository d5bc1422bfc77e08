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
        logBound: Int64
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
    }

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
            logBound: logBound
        )
    }
}
