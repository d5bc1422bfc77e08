import struct Foundation.UUID

/// What a driver can do beyond start, stop and destroy. Declared up front so the API
/// can refuse an operation with `unsupported` before calling the driver.
public struct DriverCapabilities: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let exec = DriverCapabilities(rawValue: 1 << 0)
    public static let files = DriverCapabilities(rawValue: 1 << 1)
    public static let freeze = DriverCapabilities(rawValue: 1 << 2)
    public static let checkpoint = DriverCapabilities(rawValue: 1 << 3)
    public static let console = DriverCapabilities(rawValue: 1 << 4)
    public static let metrics = DriverCapabilities(rawValue: 1 << 5)
    public static let memoryLimit = DriverCapabilities(rawValue: 1 << 6)
    public static let cpuLimit = DriverCapabilities(rawValue: 1 << 7)
    /// Runs OCI images (`image` is required); drivers without it run host commands.
    public static let images = DriverCapabilities(rawValue: 1 << 8)
    public static let network = DriverCapabilities(rawValue: 1 << 9)

    public var names: [String] {
        var out: [String] = []
        let all: [(DriverCapabilities, String)] = [
            (.exec, "exec"), (.files, "files"), (.freeze, "freeze"), (.checkpoint, "checkpoint"),
            (.console, "console"), (.metrics, "metrics"), (.memoryLimit, "memory-limit"),
            (.cpuLimit, "cpu-limit"), (.images, "images"), (.network, "network"),
        ]
        for (cap, name) in all where contains(cap) { out.append(name) }
        return out
    }
}

/// Whether a driver can run on this host, and if not, why. A probe never throws.
public struct DriverProbe: Sendable, Equatable {
    public var available: Bool
    /// One line per fact: what was found, what was missing, what was done about it.
    public var notes: [String]

    public init(available: Bool, notes: [String]) {
        self.available = available
        self.notes = notes
    }

    /// Notes something the driver needs and lacks: the driver is not available.
    public mutating func missing(_ note: String) {
        available = false
        notes.append(note)
    }
}

/// Everything a driver needs to start an instance.
public struct StartRequest: Sendable {
    public var uuid: UUID
    public var name: String
    public var spec: InstanceSpec

    public init(uuid: UUID, name: String, spec: InstanceSpec) {
        self.uuid = uuid
        self.name = name
        self.spec = spec
    }
}

/// The result of a successful start.
public struct StartedInstance: Sendable, Equatable {
    public var handle: DriverHandle
    /// From the start request to the instance being ready (process exec'd).
    public var bootTimeMicroseconds: Int64

    public init(handle: DriverHandle, bootTimeMicroseconds: Int64) {
        self.handle = handle
        self.bootTimeMicroseconds = bootTimeMicroseconds
    }
}

/// What re-adopting an instance after a daemon restart found.
public enum AdoptionResult: Sendable, Equatable {
    /// Still running; the driver is watching it again and will report its exit.
    case running(DriverHandle)
    /// It ended while nobody watched; here is how.
    case exited(ExitStatus)
    /// Its supervisor is gone and left no record of the exit.
    case lost(reason: String)
}

/// Resource usage of a running instance.
public struct InstanceUsage: Sendable, Equatable {
    public var rssBytes: Int64?
    public var cpuTimeMilliseconds: Int64?

    public init(rssBytes: Int64?, cpuTimeMilliseconds: Int64?) {
        self.rssBytes = rssBytes
        self.cpuTimeMilliseconds = cpuTimeMilliseconds
    }
}

/// A slice of an instance's log, addressed by absolute byte offsets since the
/// instance was created (older bytes may have been rotated away).
public struct LogChunk: Sendable, Equatable {
    public var bytes: [UInt8]
    /// The first offset still retained.
    public var availableStart: Int64
    /// One past the last offset written so far.
    public var availableEnd: Int64
    /// The offsets `bytes` covers: `[rangeStart, rangeStart + bytes.count)`.
    public var rangeStart: Int64

    public init(bytes: [UInt8], availableStart: Int64, availableEnd: Int64, rangeStart: Int64) {
        self.bytes = bytes
        self.availableStart = availableStart
        self.availableEnd = availableEnd
        self.rangeStart = rangeStart
    }
}

/// Receives what drivers observe on their own: a workload that exited.
public protocol DriverEventSink: Sendable {
    /// Called once per started or adopted instance, when its workload has ended and
    /// its supervisor has recorded how.
    func instanceExited(_ uuid: UUID, status: ExitStatus)
}

/// An isolation tier: runs instances and reports their exits to its event sink.
///
/// Every method is idempotent: calling it again after a crash, or for an instance
/// that is already in the target condition, is safe. Optional operations default to
/// throwing `unsupported`.
public protocol InstanceDriver: Sendable {
    /// The name users pick it by (`process`, `container`, `vm`).
    var name: String { get }
    var capabilities: DriverCapabilities { get }

    /// Whether this driver can run here. Never throws.
    func probe() async -> DriverProbe

    /// Checks a spec against what this driver supports, before anything is created.
    func validate(_ spec: InstanceSpec) throws(CorralError)

    /// Starts the instance and returns once it is ready. A failed start leaves
    /// nothing behind. The driver reports the workload's exit to its sink.
    func start(_ request: StartRequest) async throws(CorralError) -> StartedInstance

    /// Asks the workload to stop (SIGTERM or ACPI power-off). Returns at once; the
    /// exit is reported to the sink.
    func terminate(_ uuid: UUID, handle: DriverHandle) async throws(CorralError)

    /// Ends the workload now (SIGKILL to everything it started).
    func kill(_ uuid: UUID, handle: DriverHandle) async throws(CorralError)

    /// Re-attaches to an instance after a daemon restart.
    func adopt(_ uuid: UUID, handle: DriverHandle) async -> AdoptionResult

    /// Removes every host resource of a stopped instance except its log: cgroups,
    /// mounts, runtime files. Idempotent.
    func cleanup(_ uuid: UUID) async throws(CorralError)

    /// Removes everything the instance ever had on this host, log included.
    func destroy(_ uuid: UUID) async throws(CorralError)

    /// Reads the instance's log.
    func readLog(_ uuid: UUID, offset: Int64?, limit: Int) async throws(CorralError) -> LogChunk

    /// Resource usage of a running instance.
    func usage(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) -> InstanceUsage

    /// Freezes a running instance in place.
    func freeze(_ uuid: UUID, handle: DriverHandle) async throws(CorralError)

    /// Thaws a frozen instance.
    func thaw(_ uuid: UUID, handle: DriverHandle) async throws(CorralError)

    /// Runs a command inside a running instance and returns its outcome.
    func exec(_ uuid: UUID, handle: DriverHandle, request: ExecRequest) async throws(CorralError) -> ExecResult

    /// Starts a command inside a running instance with its standard streams
    /// attached to the returned session, optionally on a terminal; the caller
    /// must close the session.
    func startExecSession(_ uuid: UUID, handle: DriverHandle, request: InteractiveExecRequest) async throws(CorralError)
        -> any ExecSession

    /// Reads a file inside a running instance; the path cannot escape its root.
    func readFile(_ uuid: UUID, handle: DriverHandle, path: String) async throws(CorralError) -> [UInt8]

    /// Writes a file inside a running instance; the path cannot escape its root.
    func writeFile(_ uuid: UUID, handle: DriverHandle, path: String, contents: [UInt8], mode: UInt32) async throws(CorralError)

    /// For an instance about to be created and started with `spec`: the uuid of a
    /// standby (a workload environment the driver prepared ahead of time) the
    /// instance takes over, or nil. The driver's `start` of that uuid then uses the
    /// standby. The caller that gets a uuid but does not create the instance calls
    /// `releaseStandby`.
    func claimStandby(for spec: InstanceSpec) -> UUID?

    /// Discards a claimed standby whose instance was not created.
    func releaseStandby(_ uuid: UUID) async

    /// The driver's standbys, nil when it keeps none.
    func standbyStatus() -> StandbyStatus?
}

/// How many standbys a driver keeps and has.
public struct StandbyStatus: Sendable, Equatable {
    /// Standbys kept per image.
    public var perImage: Int
    /// Standbys ready to be claimed.
    public var ready: Int
    /// Standbys being prepared, or about to be.
    public var preparing: Int

    public init(perImage: Int, ready: Int, preparing: Int) {
        self.perImage = perImage
        self.ready = ready
        self.preparing = preparing
    }
}

/// A command to run inside an instance.
public struct ExecRequest: Sendable, Equatable {
    public var command: [String]
    public var env: [String: String]
    public var workingDirectory: String?
    public var stdin: [UInt8]
    public var timeout: Duration

    public init(command: [String], env: [String: String] = [:], workingDirectory: String? = nil, stdin: [UInt8] = [], timeout: Duration = .seconds(60)) {
        self.command = command
        self.env = env
        self.workingDirectory = workingDirectory
        self.stdin = stdin
        self.timeout = timeout
    }
}

/// How a command run inside an instance ended.
public struct ExecResult: Sendable, Equatable {
    public var exitCode: Int32
    public var stdout: [UInt8]
    public var stderr: [UInt8]

    public init(exitCode: Int32, stdout: [UInt8], stderr: [UInt8]) {
        self.exitCode = exitCode
        self.stdout = stdout
        self.stderr = stderr
    }
}

extension InstanceDriver {
    public func claimStandby(for spec: InstanceSpec) -> UUID? { nil }

    public func releaseStandby(_ uuid: UUID) async {}

    public func standbyStatus() -> StandbyStatus? { nil }

    public func freeze(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        throw .unsupported("failed to suspend instance: the \(name) driver cannot freeze instances")
    }

    public func thaw(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        throw .unsupported("failed to resume instance: the \(name) driver cannot freeze instances")
    }

    public func usage(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) -> InstanceUsage {
        throw .unsupported("failed to read metrics: the \(name) driver does not report usage")
    }

    public func exec(_ uuid: UUID, handle: DriverHandle, request: ExecRequest) async throws(CorralError) -> ExecResult {
        throw .unsupported("failed to exec in instance: the \(name) driver cannot run commands in instances")
    }

    public func startExecSession(_ uuid: UUID, handle: DriverHandle, request: InteractiveExecRequest) async throws(CorralError)
        -> any ExecSession
    {
        throw .unsupported("failed to attach to a command in instance: the \(name) driver cannot run interactive commands")
    }

    public func readFile(_ uuid: UUID, handle: DriverHandle, path: String) async throws(CorralError) -> [UInt8] {
        throw .unsupported("failed to read file: the \(name) driver has no file access")
    }

    public func writeFile(_ uuid: UUID, handle: DriverHandle, path: String, contents: [UInt8], mode: UInt32) async throws(CorralError) {
        throw .unsupported("failed to write file: the \(name) driver has no file access")
    }
}
