import CorralCore
import CorralShimFormat

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The cgroup of one instance: `<controller mount>/<parent>/<name>` in every v1
/// hierarchy Corral uses, or `<mount>/<parent>/<name>` in the unified hierarchy.
///
/// Every operation is idempotent: creating an existing cgroup re-applies and
/// verifies its limits, removing a missing one succeeds.
public struct InstanceCgroup: Sendable, Equatable {
    public typealias Controller = CgroupLayout.CgroupController

    public let layout: CgroupLayout
    /// `<parent>/<name>`, relative to each hierarchy's root.
    public let relativePath: String
    public let parent: String

    public init(layout: CgroupLayout, parent: String, name: String) {
        self.layout = layout
        self.parent = parent
        self.relativePath = "\(parent)/\(name)"
    }

    /// The instance directory in `controller`'s hierarchy (v2: the one directory).
    public func directory(_ controller: Controller) -> String? {
        switch layout {
        case .v1(let mounts): mounts[controller].map { "\($0)/\(relativePath)" }
        case .v2(let mount): "\(mount)/\(relativePath)"
        case .none: nil
        }
    }

    /// One directory per distinct hierarchy, in a fixed order.
    public var directories: [String] {
        switch layout {
        case .v1(let mounts):
            var seen: Set<String> = []
            var out: [String] = []
            for controller in Controller.allCases {
                guard let mount = mounts[controller], seen.insert(mount).inserted else { continue }
                out.append("\(mount)/\(relativePath)")
            }
            return out
        case .v2(let mount):
            return ["\(mount)/\(relativePath)"]
        case .none:
            return []
        }
    }

    /// The files a freshly forked, single-threaded process writes `0` to in order to
    /// join this cgroup, one per hierarchy.
    ///
    /// On v1 this is `tasks`, which moves only the calling thread: for such a process
    /// that is the whole process, and unlike `cgroup.procs` it skips the global
    /// threadgroup lock, whose write side waits for an RCU grace period (about
    /// 10 ms per start on an idle host). On v2 it is `cgroup.procs`.
    public var joinFiles: [String] {
        switch layout {
        case .v1: directories.map { "\($0)/tasks" }
        case .v2: directories.map { "\($0)/cgroup.procs" }
        case .none: []
        }
    }

    /// The v2 directory a process can be cloned straight into (`CLONE_INTO_CGROUP`),
    /// which needs no migration at all; nil on v1.
    public var unifiedDirectory: String? {
        guard case .v2 = layout else { return nil }
        return directories.first
    }

    /// The `cgroup.procs` file listing the processes of this cgroup.
    public var membersFile: String? { directories.first.map { "\($0)/cgroup.procs" } }

    /// v1 `freezer.state`, when the freezer is mounted.
    public var freezerStateFile: String? {
        guard case .v1 = layout else { return nil }
        return directory(.freezer).map { "\($0)/freezer.state" }
    }

    /// v2 `cgroup.kill`, when the kernel has it (5.14 and later).
    public var killFile: String? {
        guard case .v2 = layout, let directory = directory(.memory) else { return nil }
        let path = "\(directory)/cgroup.kill"
        return RawFile.exists(path) ? path : nil
    }

    /// The file holding the `oom_kill` counter: v1 `memory.oom_control`, v2 `memory.events`.
    public var oomCounterFile: String? {
        switch layout {
        case .v1: directory(.memory).map { "\($0)/memory.oom_control" }
        case .v2: directory(.memory).map { "\($0)/memory.events" }
        case .none: nil
        }
    }

    /// Whether this cgroup can be frozen: a v1 freezer, or any v2 hierarchy.
    public var canFreeze: Bool {
        switch layout {
        case .v1(let mounts): mounts[.freezer] != nil
        case .v2: true
        case .none: false
        }
    }

    /// Whether the cgroup directory exists in any hierarchy.
    public var exists: Bool { directories.contains { RawFile.exists($0) } }

    // MARK: Creation and removal

    /// Creates the parent and instance cgroups where missing and applies `limits`,
    /// reading each value back. On failure, whatever this call created is removed.
    public func create(limits: CgroupLimits) throws(CorralError) {
        var created: [String] = []
        do throws(CorralError) {
            try prepareParents()
            for directory in directories {
                do {
                    if try FileSystem.makeDirectories(directory) { created.append(directory) }
                } catch {
                    throw CorralError(.unavailable, "failed to create cgroup \(directory)", cause: error)
                }
            }
            try apply(limits)
        } catch {
            for directory in created.reversed() { try? FileSystem.removeDirectory(directory) }
            throw error
        }
    }

    /// Removes the cgroup from every hierarchy after killing what is left in it.
    /// Waits up to `timeoutSeconds` for the processes to be gone.
    public func remove(timeoutSeconds: Double = 5) async throws(CorralError) {
        guard exists else { return }
        await killAll(waitUntilEmpty: true, timeoutSeconds: timeoutSeconds)
        thawIfFrozen()
        let deadline = ContinuousClock.now + .milliseconds(Int(timeoutSeconds * 1000))
        for directory in directories {
            while true {
                do {
                    try FileSystem.removeDirectory(directory)
                    break
                } catch where error.errno == EBUSY && ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(5))
                } catch {
                    throw CorralError(.internal, "failed to remove cgroup \(directory)", cause: error)
                }
            }
        }
    }

    /// Removes the parent cgroup in every hierarchy if it is empty; for tests and
    /// uninstall. A parent that still has instance cgroups stays.
    public func removeParentIfEmpty() {
        for directory in directories {
            guard let slash = directory.lastIndex(of: "/") else { continue }
            try? FileSystem.removeDirectory(String(directory[..<slash]))
        }
    }

    // MARK: Members, kill, freeze

    /// The pids in the cgroup (from the first hierarchy).
    public func members() -> [Int32] {
        guard let procs = membersFile, let text = try? FileSystem.readText(procs) else { return [] }
        return text.split(separator: "\n").compactMap { Int32($0) }
    }

    /// Whether no live (non-zombie) process is left in the cgroup.
    public func isEmpty() -> Bool {
        members().allSatisfy { ProcStat.read(pid: $0)?.hasExited ?? true }
    }

    /// SIGKILLs every process in the cgroup. v2 writes `cgroup.kill`; v1 freezes the
    /// cgroup so nothing can fork while the pids are signalled, then thaws it so
    /// the signals are delivered. Without `waitUntilEmpty` it returns once every
    /// process has been sent SIGKILL; with it, once they are all gone or the
    /// timeout has passed.
    public func killAll(waitUntilEmpty: Bool, timeoutSeconds: Double = 5) async {
        guard !directories.isEmpty else { return }
        let deadline = ContinuousClock.now + .milliseconds(Int(timeoutSeconds * 1000))
        if let killFile, (try? FileSystem.writeControl(killFile, "1")) != nil {
            if waitUntilEmpty { await waitEmpty(until: deadline) }
            return
        }
        var signalled: Set<Int32> = []
        while true {
            let frozen = await freezeForKill()
            let pids = members()
            for pid in pids { Glibc.kill(pid, SIGKILL) }
            if frozen { thawIgnoringErrors() }
            let fresh = pids.filter { !signalled.contains($0) }
            signalled.formUnion(pids)
            if pids.isEmpty || isEmpty() { return }
            if !waitUntilEmpty && (frozen || fresh.isEmpty) { return }
            if ContinuousClock.now >= deadline { return }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    /// One synchronous round of SIGKILL to every member, for contexts that must not
    /// wait (an exit watcher thread). Does not freeze, so a process forked during
    /// the round may survive it.
    public func killAllOnce() {
        if let killFile, (try? FileSystem.writeControl(killFile, "1")) != nil { return }
        for pid in members() { Glibc.kill(pid, SIGKILL) }
    }

    /// Freezes every process of the cgroup and returns once the kernel reports the
    /// cgroup frozen. On timeout the cgroup is thawed again and a `timeout` error thrown.
    public func freeze(timeoutSeconds: Double = 5) async throws(CorralError) {
        guard let control = freezeControl else {
            throw .unsupported("failed to suspend instance: no cgroup freezer on this host")
        }
        do {
            try FileSystem.writeControl(control.path, control.freeze)
        } catch {
            throw CorralError(.internal, "failed to suspend instance: cannot write \(control.path)", cause: error)
        }
        let deadline = ContinuousClock.now + .milliseconds(Int(timeoutSeconds * 1000))
        while !isFrozen() {
            if ContinuousClock.now >= deadline {
                thawIgnoringErrors()
                throw .timeout("failed to suspend instance: the cgroup did not freeze within \(timeoutSeconds) s")
            }
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Thaws the cgroup. Thawing a cgroup that is not frozen is a no-op.
    public func thaw() throws(CorralError) {
        guard let control = freezeControl else {
            throw .unsupported("failed to resume instance: no cgroup freezer on this host")
        }
        do {
            try FileSystem.writeControl(control.path, control.thaw)
        } catch {
            throw CorralError(.internal, "failed to resume instance: cannot write \(control.path)", cause: error)
        }
    }

    /// Whether the kernel reports the cgroup completely frozen.
    public func isFrozen() -> Bool {
        switch layout {
        case .v1:
            guard let file = freezerStateFile, let text = try? FileSystem.readText(file) else { return false }
            return text.hasPrefix("FROZEN")
        case .v2:
            guard let directory = directory(.memory),
                  let text = try? FileSystem.readText("\(directory)/cgroup.events")
            else { return false }
            return text.split(separator: "\n").contains("frozen 1")
        case .none:
            return false
        }
    }

    private var freezeControl: (path: String, freeze: String, thaw: String)? {
        switch layout {
        case .v1: freezerStateFile.map { ($0, "FROZEN", "THAWED") }
        case .v2: directory(.memory).map { ("\($0)/cgroup.freeze", "1", "0") }
        case .none: nil
        }
    }

    private func thawIgnoringErrors() {
        guard let control = freezeControl else { return }
        try? FileSystem.writeControl(control.path, control.thaw)
    }

    private func thawIfFrozen() {
        guard canFreeze, exists else { return }
        thawIgnoringErrors()
    }

    /// Freezes for a kill round; gives up waiting after 100 ms (SIGKILL sent to a
    /// process still freezing is delivered when it thaws).
    private func freezeForKill() async -> Bool {
        guard case .v1 = layout, let file = freezerStateFile, RawFile.exists(file) else { return false }
        guard (try? FileSystem.writeControl(file, "FROZEN")) != nil else { return false }
        for _ in 0..<100 {
            if isFrozen() { return true }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return true
    }

    private func waitEmpty(until deadline: ContinuousClock.Instant) async {
        while !isEmpty() && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(2))
        }
    }

    // MARK: Usage

    /// Resident anonymous memory of the cgroup, in bytes.
    public func residentBytes() -> Int64? {
        guard let directory = directory(.memory) else { return nil }
        let stat = (try? FileSystem.readText("\(directory)/memory.stat")).map(Self.keyedValues) ?? [:]
        switch layout {
        case .v1:
            return stat["total_rss"] ?? stat["rss"] ?? Self.readInteger("\(directory)/memory.usage_in_bytes")
        case .v2:
            return stat["anon"] ?? Self.readInteger("\(directory)/memory.current")
        case .none:
            return nil
        }
    }

    /// CPU time consumed by the cgroup, in nanoseconds.
    public func cpuNanoseconds() -> Int64? {
        switch layout {
        case .v1:
            return directory(.cpuacct).flatMap { Self.readInteger("\($0)/cpuacct.usage") }
        case .v2:
            guard let directory = directory(.cpu),
                  let text = try? FileSystem.readText("\(directory)/cpu.stat"),
                  let usec = Self.keyedValues(text)["usage_usec"]
            else { return nil }
            return usec * 1000
        case .none:
            return nil
        }
    }

    /// The OOM-kill counter of the cgroup.
    public func oomKillCount() -> UInt64? {
        guard let file = oomCounterFile, let bytes = try? RawFile.read(file) else { return nil }
        return OOMCounter.parse(bytes)
    }

    static func keyedValues(_ text: String) -> [String: Int64] {
        var out: [String: Int64] = [:]
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ")
            if words.count == 2, let value = Int64(words[1]) { out[String(words[0])] = value }
        }
        return out
    }

    /// The integer a one-value control file holds; nil when absent or not a number
    /// (`max` included).
    static func readInteger(_ path: String) -> Int64? {
        guard let text = try? FileSystem.readText(path) else { return nil }
        return Int64(text.split(separator: "\n").first ?? "")
    }
}
