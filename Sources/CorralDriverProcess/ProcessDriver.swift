import CorralCore
import CorralHost
import CorralShimFormat
import Foundation
import Logging
import Synchronization

/// The `process` driver: each instance is a host process tree in its own cgroup
/// (memory, cpu, pids, freezer), supervised by its own `corral-shim`.
///
/// The shim owns the workload's output and exit status, so instances survive the
/// daemon; a restarted daemon re-attaches with `adopt`. Exits are reported to the
/// sink exactly once per started or adopted workload, from one dedicated watcher
/// thread. Callers must not run two operations on the same instance at once.
///
/// On disk, per instance, `<stateDirectory>/instances/<uuid>/`: `log`, `log.1` and
/// `log.offset` (kept until `destroy`), and the runtime files of the current run,
/// `shim.params`, `state` and `exit` (removed by `cleanup`).
public final class ProcessDriver: InstanceDriver {
    public let name = "process"
    public let capabilities: DriverCapabilities

    let logBoundBytes: Int
    let maxProcesses: Int
    let logger: Logger
    /// Launches, watches and re-adopts the shims.
    let supervisor: ShimSupervisor

    var layout: CgroupLayout { supervisor.layout }
    var shimPath: String { supervisor.shimPath }
    var cgroupParent: String { supervisor.cgroupParent }

    /// How long `start` waits for the workload to exec.
    static let readyTimeoutNanoseconds: UInt64 = 30_000_000_000

    /// - Parameters:
    ///   - stateDirectory: Instances live in `<stateDirectory>/instances/<uuid>/`.
    ///   - shimPath: The `corral-shim` executable.
    ///   - cgroupParent: The cgroup under which each instance gets `<parent>/<uuid>`
    ///     in every hierarchy.
    ///   - logBoundBytes: Bound on each instance's retained log (`log` + `log.1`).
    ///   - maxProcesses: `pids.max` of each instance.
    ///   - cgroupLayout: The host's cgroup hierarchies; detected when nil.
    ///   - events: Receives workload exits.
    public init(
        stateDirectory: String,
        shimPath: String,
        cgroupParent: String = "corral",
        logBoundBytes: Int = 8 << 20,
        maxProcesses: Int = 4096,
        cgroupLayout: CgroupLayout? = nil,
        events: any DriverEventSink,
        logger: Logger
    ) {
        self.logBoundBytes = max(logBoundBytes, 2)
        self.maxProcesses = maxProcesses
        let layout = cgroupLayout ?? CgroupLayout.current()
        self.logger = logger
        supervisor = ShimSupervisor(
            driverName: "process", stateDirectory: stateDirectory, shimPath: shimPath, cgroupParent: cgroupParent,
            layout: layout, events: events, notify: ShimSupervisor.Notice.logger(logger, noun: "instance")
        )
        capabilities = Self.capabilities(for: layout)
    }

    /// Stops watching instances: no further exits are reported. Running instances
    /// keep running and can be adopted by another driver. For daemon shutdown.
    public func shutdown() {
        supervisor.shutdown()
    }

    static func capabilities(for layout: CgroupLayout) -> DriverCapabilities {
        var capabilities: DriverCapabilities = [.metrics]
        switch layout {
        case .v1(let mounts):
            if mounts[.memory] != nil { capabilities.insert(.memoryLimit) }
            if mounts[.cpu] != nil { capabilities.insert(.cpuLimit) }
            if mounts[.freezer] != nil { capabilities.insert(.freeze) }
        case .v2:
            capabilities.formUnion([.memoryLimit, .cpuLimit, .freeze])
        case .none:
            break
        }
        return capabilities
    }

    func paths(_ uuid: UUID) -> InstancePaths { supervisor.paths(uuid) }

    func cgroup(_ uuid: UUID) -> InstanceCgroup { supervisor.cgroup(uuid) }

    // MARK: Probe and validation

    public func probe() async -> DriverProbe {
        var notes: [String] = []
        var available = true
        if FileSystem.isExecutableFile(shimPath) {
            notes.append("corral-shim: \(shimPath)")
        } else {
            available = false
            notes.append("corral-shim missing or not executable at \(shimPath)")
        }
        if let error = supervisor.watcherFailure {
            available = false
            notes.append("cannot watch processes: \(error)")
        }
        notes.append(layout.summary)
        switch layout {
        case .v1(let mounts):
            for mount in Set(mounts.values).sorted() {
                let parent = "\(mount)/\(cgroupParent)"
                let target = RawFile.exists(parent) ? parent : mount
                if !FileSystem.isWritableDirectory(target) {
                    available = false
                    notes.append("cannot create cgroups in \(target): not writable")
                }
            }
            for missing in CgroupLayout.CgroupController.allCases where mounts[missing] == nil {
                notes.append("cgroup v1 controller \(missing.rawValue) not mounted: its limits and features are off")
            }
            if let memory = mounts[.memory], !RawFile.exists("\(memory)/memory.memsw.limit_in_bytes") {
                notes.append("swap is not accounted (memory.memsw missing): an instance can exceed memory_mb by swapping")
            }
        case .v2(let mount):
            let controllers = (try? FileSystem.readText("\(mount)/cgroup.controllers")) ?? ""
            let present = Set(controllers.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
            for needed in ["memory", "cpu", "pids"] where !present.contains(needed) {
                notes.append("cgroup v2 controller \(needed) not available: its limits are off")
            }
            if !FileSystem.isWritableDirectory(mount) {
                available = false
                notes.append("cannot create cgroups in \(mount): not writable")
            }
        case .none:
            notes.append("instances run without resource limits, freeze or usage accounting")
        }
        notes.append("capabilities: \(capabilities.names.joined(separator: ", "))")
        return DriverProbe(available: available, notes: notes)
    }

    public func validate(_ spec: InstanceSpec) throws(CorralError) {
        guard let command = spec.args.first else {
            throw .invalidArgument("invalid args: the process driver needs a command to run, args must not be empty")
        }
        guard command.hasPrefix("/") || !command.contains("/") else {
            throw .invalidArgument("invalid args: '\(command)' must be an absolute path or a command name found on PATH")
        }
        guard ExecutableLookup.resolve(command, searchPath: Self.searchPath(spec)) != nil else {
            throw .invalidArgument("invalid args: \(command): command not found")
        }
    }

    static func searchPath(_ spec: InstanceSpec) -> String {
        spec.env["PATH"] ?? ExecutableLookup.defaultSearchPath
    }

    /// The workload's environment: a default `PATH`, then the spec's variables.
    static func environment(_ spec: InstanceSpec) -> [String] {
        var variables = ["PATH": ExecutableLookup.defaultSearchPath]
        variables.merge(spec.env) { _, new in new }
        return variables.keys.sorted().map { "\($0)=\(variables[$0] ?? "")" }
    }
}
