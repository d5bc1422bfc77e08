import CorralCore
import CorralHost
import CorralShimFormat
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The `container` driver: each instance runs an OCI image under crun, supervised
/// by its own `corral-shim` exactly like a `process` instance (same log, exit
/// record, cgroups, exit watching and adoption).
///
/// A run, from the shim's point of view: the shim enters a private mount namespace
/// (on a hybrid cgroup host, without the cgroup2 mount crun refuses), mounts the
/// instance's overlay root there (so no mount of an instance is ever visible on
/// the host, and every one disappears with the instance), and runs
/// `crun run --detach`, which leaves the container's init to the shim as its child.
/// The shim then supervises that init as its workload: the instance's exit status
/// is the init's.
///
/// On disk, per instance, `<stateDirectory>/instances/<uuid>/`: the log trio (kept
/// until `destroy`), `upper/` and `work/` (the container's writable layer, kept
/// across stop and start until `destroy`), and the runtime files of the current
/// run: `bundle/` (`config.json` and the `rootfs` mount point), `shim.params`,
/// `state`, `exit`, `init.pid`, `runtime.log`, `hosts`, `hostname`, `resolv.conf`.
/// The runtime's own state lives in `<stateDirectory>/<crun|runc>/<uuid>/` while
/// the container exists; the container id is the instance uuid. New containers
/// run under the configured runtime; each keeps the one it started with (its
/// handle names it) for exec, deletion and cleanup.
public final class ContainerDriver: InstanceDriver {
    public let name = "container"
    public let capabilities: DriverCapabilities

    let supervisor: ShimSupervisor
    let images: any ImageProvider
    let networking: (any ContainerNetworking)?
    let logger: Logger
    /// The runtime new containers run under.
    public let runtimeKind: OCIRuntimeKind
    /// Every runtime installed on this host, by kind.
    let runtimes: [OCIRuntimeKind: OCIRuntime]
    let logBoundBytes: Int
    let maxProcesses: Int
    /// cgroup2 mounts hidden from crun (a hybrid host); empty otherwise.
    let hiddenMounts: [String]
    /// The `corral-standby` executable; nil keeps no standbys.
    let standbyProgram: String?
    let standbys: StandbyPool

    /// How long `start` waits for the container to run.
    static let readyTimeoutNanoseconds: UInt64 = 30_000_000_000
    /// How long a crun invocation of the daemon's own (`delete`) may take.
    static let runtimeTimeoutNanoseconds: UInt64 = 15_000_000_000
    /// Bytes kept of each output stream of `exec`.
    public static let execOutputLimit = 16 << 20
    /// Largest file `readFile` returns.
    public static let fileSizeLimit = 64 << 20

    /// - Parameters:
    ///   - stateDirectory: Instances live in `<stateDirectory>/instances/<uuid>/`,
    ///     each runtime's state in `<stateDirectory>/<crun|runc>/`.
    ///   - shimPath: The `corral-shim` executable.
    ///   - cgroupParent: Each instance's cgroup is `<parent>/<uuid>` in every hierarchy
    ///     (crun's `linux.cgroupsPath` is `/<parent>/<uuid>`).
    ///   - images: Gives each pinned image's read-only root file system and config.
    ///   - networking: Prepares each container's network namespace; nil: each
    ///     container gets a namespace of its own with loopback only.
    ///   - runtime: The OCI runtime new containers run under.
    ///   - runtimePaths: Executables of the runtimes; each is looked up on `PATH`
    ///     when absent.
    ///   - logBoundBytes: Bound on each instance's retained log.
    ///   - maxProcesses: The pids limit of each container.
    ///   - cgroupLayout: The host's cgroup hierarchies; detected when nil.
    ///   - standbyProgram: The `corral-standby` executable, for standbys.
    ///   - standbysPerImage: Standby containers kept for each of the images
    ///     started most recently (see `ContainerDriver+Standby`); 0 keeps none.
    ///   - events: Receives workload exits.
    public init(
        stateDirectory: String,
        shimPath: String,
        cgroupParent: String = "corral",
        images: any ImageProvider,
        networking: (any ContainerNetworking)? = nil,
        runtime: OCIRuntimeKind = .crun,
        runtimePaths: [OCIRuntimeKind: String] = [:],
        logBoundBytes: Int = 8 << 20,
        maxProcesses: Int = 4096,
        cgroupLayout: CgroupLayout? = nil,
        standbyProgram: String? = nil,
        standbysPerImage: Int = 0,
        events: any DriverEventSink,
        logger: Logger
    ) {
        let layout = cgroupLayout ?? CgroupLayout.current()
        let mountinfo = (try? FileSystem.readText("/proc/self/mountinfo")) ?? ""
        let hidden = CgroupLayout.hybridUnifiedMounts(mountinfo: mountinfo)
        self.images = images
        self.networking = networking
        self.logger = logger
        self.logBoundBytes = max(logBoundBytes, 2)
        self.maxProcesses = maxProcesses
        self.hiddenMounts = hidden
        self.standbyProgram = standbyProgram.flatMap { FileSystem.isExecutableFile($0) ? $0 : nil }
        standbys = StandbyPool(perImage: standbysPerImage)
        runtimeKind = runtime
        var runtimes: [OCIRuntimeKind: OCIRuntime] = [:]
        for kind in OCIRuntimeKind.allCases {
            if let executable = runtimePaths[kind] ?? ExecutableLookup.resolve(kind.rawValue) {
                runtimes[kind] = OCIRuntime(
                    kind: kind, executable: executable, stateRoot: "\(stateDirectory)/\(kind.rawValue)", hiddenMounts: hidden)
            }
        }
        self.runtimes = runtimes
        supervisor = ShimSupervisor(
            driverName: "container", stateDirectory: stateDirectory, shimPath: shimPath, cgroupParent: cgroupParent,
            layout: layout, events: events, notify: ShimSupervisor.Notice.logger(logger, noun: "container")
        )
        var capabilities: DriverCapabilities = [.images, .exec, .files, .metrics, .memoryLimit, .cpuLimit]
        if InstanceCgroup(layout: layout, parent: cgroupParent, name: "probe").canFreeze { capabilities.insert(.freeze) }
        if networking != nil { capabilities.insert(.network) }
        self.capabilities = capabilities
    }

    /// Stops watching instances: no further exits are reported. Running containers
    /// keep running and can be adopted by another driver. For daemon shutdown.
    public func shutdown() {
        supervisor.shutdown()
    }

    func paths(_ uuid: UUID) -> ContainerPaths {
        ContainerPaths(supervisor.paths(uuid))
    }

    func cgroup(_ uuid: UUID) -> InstanceCgroup { supervisor.cgroup(uuid) }

    /// The runtime of the container `handle` describes (the one it was started
    /// with), or for a new container (nil) the configured one.
    func runtime(_ verb: String, for handle: DriverHandle? = nil) throws(CorralError) -> OCIRuntime {
        let kind = handle.map { OCIRuntimeKind(rawValue: $0.attributes["runtime"] ?? "") ?? .crun } ?? runtimeKind
        guard let runtime = runtimes[kind] else {
            throw .unavailable("failed to \(verb): \(kind.rawValue) is not installed on this host (Debian package \(kind.rawValue))")
        }
        return runtime
    }

    static func containerID(_ uuid: UUID) -> String { uuid.uuidString.lowercased() }

    // MARK: Validation

    /// Requires an image pinned to a digest (`name@sha256:<hex>` or `sha256:<hex>`);
    /// memory, vcpus, env and args are validated by the core.
    public func validate(_ spec: InstanceSpec) throws(CorralError) {
        _ = try PinnedImage.digest(spec.image, driver: name)
    }
}
