import CorralCore
import CorralShimFormat
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The part of a driver that deals with `corral-shim`: launches one per instance
/// run, watches it from one dedicated thread, reports the workload's exit to the
/// sink exactly once per launched or adopted run, re-adopts shims after a daemon
/// restart, and ends what an instance left behind.
///
/// Pids are trusted only with their start times. Callers must not run two
/// operations on the same instance at once.
public final class ShimSupervisor: Sendable {
    /// What the supervisor observed on its own, for the driver's log.
    public enum Notice: Sendable {
        case adopted(UUID, shimPID: Int32)
        case exited(UUID, ExitStatus)
        /// The shim ended without an exit record; the instance was killed.
        case supervisorLost(UUID, shimPID: Int32)
    }

    /// Why a shim could not start its workload, as it reported on its ready line.
    public struct StartFailure: Sendable, Equatable {
        /// The step that failed (`exec`, `cgroup`, `mounts`, `rootfs`, `runtime`, …).
        public var stage: String
        /// 0 when the failure had no errno.
        public var errno: Int32
        public var message: String
    }

    /// A shim whose workload runs: what `launch` returns.
    public struct Launched: Sendable {
        public var handle: DriverHandle
        /// `CLOCK_MONOTONIC` nanoseconds when the shim saw the workload start.
        public var startedAtMonotonicNanoseconds: UInt64
    }

    /// A supervised run: its shim and its workload, each with its start time.
    public struct WatchedShim: Sendable, Equatable {
        public let pid: Int32
        public let startTime: UInt64
        public let workloadPID: Int32
        public let workloadStartTime: UInt64

        public init(_ handle: DriverHandle) {
            pid = handle.shimPID
            startTime = handle.shimStartTime
            workloadPID = handle.workloadPID
            workloadStartTime = handle.workloadStartTime
        }

        public init(_ state: StateRecord) {
            pid = state.shimPID
            startTime = state.shimStartTime
            workloadPID = state.workloadPID
            workloadStartTime = state.workloadStartTime
        }

        public var handle: DriverHandle {
            DriverHandle(shimPID: pid, shimStartTime: startTime, workloadPID: workloadPID, workloadStartTime: workloadStartTime)
        }
    }

    /// `process`, `container`: how messages name the driver.
    public let driverName: String
    public let stateDirectory: String
    public let shimPath: String
    public let cgroupParent: String
    public let layout: CgroupLayout
    let sink: any DriverEventSink
    let notify: @Sendable (Notice) -> Void
    let watcherResult: Result<DescriptorWatcher, SystemCallError>
    /// A shim this supervisor watches, until it has exited and been reaped.
    struct Watch {
        var shim: WatchedShim
        /// Whether the workload's exit was reported already (from the shim's exit
        /// message, before the shim itself was gone).
        var exitReported = false
    }

    /// The shims whose exit this supervisor will report, by instance.
    let watches = Mutex<[UUID: Watch]>([:])

    /// - Parameters:
    ///   - driverName: Names the driver in error messages.
    ///   - stateDirectory: Instances live in `<stateDirectory>/instances/<uuid>/`.
    ///   - shimPath: The `corral-shim` executable.
    ///   - cgroupParent: Each instance's cgroup is `<parent>/<uuid>` in every hierarchy.
    ///   - layout: The host's cgroup hierarchies.
    ///   - events: Receives workload exits.
    ///   - notify: Receives notices for the driver's log; called on the watcher thread.
    public init(
        driverName: String,
        stateDirectory: String,
        shimPath: String,
        cgroupParent: String,
        layout: CgroupLayout,
        events: any DriverEventSink,
        notify: @escaping @Sendable (Notice) -> Void
    ) {
        self.driverName = driverName
        self.stateDirectory = stateDirectory
        self.shimPath = shimPath
        self.cgroupParent = cgroupParent
        self.layout = layout
        self.sink = events
        self.notify = notify
        do {
            watcherResult = .success(try DescriptorWatcher(name: "corral-\(driverName)-exits"))
        } catch {
            watcherResult = .failure(error)
        }
    }

    deinit {
        if case .success(let watcher) = watcherResult { watcher.shutdown() }
    }

    /// Stops watching: no further exits are reported. Running instances keep running
    /// and can be adopted by another supervisor. Idempotent.
    public func shutdown() {
        if case .success(let watcher) = watcherResult { watcher.shutdown() }
        watches.withLock { $0.removeAll() }
    }

    /// Why this supervisor cannot watch processes; nil when it can.
    public var watcherFailure: SystemCallError? {
        if case .failure(let error) = watcherResult { return error }
        return nil
    }

    /// The watcher thread, or `unavailable` naming `verb` when it could not start.
    public func watcher(_ verb: String) throws(CorralError) -> DescriptorWatcher {
        switch watcherResult {
        case .success(let watcher): return watcher
        case .failure(let error):
            throw CorralError(.unavailable, "failed to \(verb) instance: the \(driverName) driver cannot watch processes", cause: error)
        }
    }

    public func paths(_ uuid: UUID) -> InstancePaths {
        InstancePaths(stateDirectory: stateDirectory, uuid: uuid)
    }

    public func cgroup(_ uuid: UUID) -> InstanceCgroup {
        InstanceCgroup(layout: layout, parent: cgroupParent, name: uuid.uuidString.lowercased())
    }

    // MARK: Live shims and their records

    /// The instance's shim if one is alive: the one this supervisor watches, else
    /// the one its state record names.
    public func liveShim(_ uuid: UUID) -> WatchedShim? {
        if let watched = watches.withLock({ $0[uuid]?.shim }), HostProcess.isAlive(pid: watched.pid, startTime: watched.startTime) {
            return watched
        }
        if let state = readStateRecord(paths(uuid)), HostProcess.isAlive(pid: state.shimPID, startTime: state.shimStartTime) {
            return WatchedShim(state)
        }
        return nil
    }

    /// Fails a start with `conflict` while a shim of the instance runs its workload.
    /// A shim whose workload's exit was reported already is only finishing (its
    /// exit record, then its own exit): that one is waited for, two seconds at most.
    public func refuseWhileRunning(_ uuid: UUID) async throws(CorralError) {
        let deadline = ContinuousClock.now + .seconds(2)
        while let shim = liveShim(uuid) {
            let finishing = watches.withLock { $0[uuid].map { $0.shim == shim && $0.exitReported } ?? false }
            guard finishing, ContinuousClock.now < deadline else {
                throw .conflict("failed to start instance: it is already running under corral-shim pid \(shim.pid)")
            }
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    public func readStateRecord(_ paths: InstancePaths) -> StateRecord? {
        guard let bytes = try? RawFile.read(paths.state) else { return nil }
        return try? StateRecord.parse(bytes)
    }

    /// The exit recorded by the shim named in `handle`; nil when there is none or it
    /// belongs to another run.
    public func recordedExit(_ paths: InstancePaths, handle: DriverHandle) -> ExitStatus? {
        guard let bytes = try? RawFile.read(paths.exit) else { return nil }
        return Self.exitStatus(bytes, handle: handle)
    }

    /// The exit an `ExitRecord` in `bytes` states; nil when it does not parse or
    /// belongs to another run than `handle`'s.
    static func exitStatus(_ bytes: [UInt8], handle: DriverHandle) -> ExitStatus? {
        guard let record = try? ExitRecord.parse(bytes),
              record.shimPID == handle.shimPID, record.shimStartTime == handle.shimStartTime
        else { return nil }
        return record.status
    }

    /// Removes the files of one run (`InstanceFileNames.runtime`, leftover
    /// temporaries, and `extra` names in the instance directory); the log trio stays.
    public func removeRuntimeFiles(_ paths: InstancePaths, extra: [String] = []) {
        for name in InstanceFileNames.runtime + extra { try? RawFile.remove(paths.file(name)) }
        for name in (try? FileSystem.entries(of: paths.directory)) ?? [] where name.contains(".tmp.") {
            try? RawFile.remove(paths.file(name))
        }
    }

    /// Removes the instance's cgroups: its directory in every hierarchy of the
    /// layout, and those a runtime made in hierarchies the layout does not manage.
    /// Call once its processes are gone. Idempotent.
    public func removeCgroups(_ uuid: UUID) async throws(CorralError) {
        let cgroup = cgroup(uuid)
        if layout != .none { try await cgroup.remove() }
        try cgroup.removeForeignDirectories()
    }

    /// Removes the instance directory with everything in it, its log included: the
    /// end of every driver's `destroy`. Idempotent.
    public func removeInstanceDirectory(_ uuid: UUID) throws(CorralError) {
        let directory = paths(uuid).directory
        do {
            try FileSystem.removeTree(directory)
        } catch {
            throw CorralError(.internal, "failed to destroy instance: cannot remove \(directory)", cause: error)
        }
    }

    // MARK: Ending what is left

    /// SIGKILLs everything of the instance: its cgroup and the workload's group.
    public func killRemains(_ uuid: UUID, handle: DriverHandle?) async {
        await cgroup(uuid).killAll(waitUntilEmpty: false)
        if let handle {
            HostProcess.signalGroup(leader: handle.workloadPID, startTime: handle.workloadStartTime, SIGKILL)
        }
    }

    /// If a shim of the instance still runs, kills its workload and waits up to five
    /// seconds for the shim to record the exit and, if watched, for the exit to have
    /// been reported; then SIGKILLs a shim still there. The prelude of every cleanup.
    public func endLiveShim(_ uuid: UUID) async {
        guard let shim = liveShim(uuid) else { return }
        await killRemains(uuid, handle: shim.handle)
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let alive = HostProcess.isAlive(pid: shim.pid, startTime: shim.startTime)
            let watched = watches.withLock { $0[uuid]?.shim } == shim
            if !alive && !watched { return }
            try? await Task.sleep(for: .milliseconds(2))
        }
        HostProcess.signal(pid: shim.pid, startTime: shim.startTime, SIGKILL)
    }

    /// Stops watching `uuid`'s shim for good: its exit is reaped but not reported
    /// (a run that was never an instance's, such as a standby container's).
    public func forget(_ uuid: UUID) {
        watches.withLock { $0[uuid] = nil }
    }
}

extension ExitRecord {
    /// The exit this record states.
    public var status: ExitStatus {
        let at = Date(timeIntervalSince1970: Double(timeNanoseconds) / 1_000_000_000)
        switch termination {
        case .exited(let code): return ExitStatus(code: code, signal: nil, oomKilled: oomKilled, at: at)
        case .signaled(let signal): return ExitStatus(code: nil, signal: signal, oomKilled: oomKilled, at: at)
        }
    }
}
