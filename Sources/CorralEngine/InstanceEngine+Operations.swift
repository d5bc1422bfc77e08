import CorralCore
import Foundation

/// A request to create one instance.
public struct CreateInstance: Sendable {
    /// The name; nil picks a unique one.
    public var name: String?
    public var spec: InstanceSpec
    public var autostart: Bool
    /// When the image is fetched; ignored by drivers that run no image.
    public var pullPolicy: PullPolicy

    public init(name: String?, spec: InstanceSpec, autostart: Bool, pullPolicy: PullPolicy = .ifNotPresent) {
        self.name = name
        self.spec = spec
        self.autostart = autostart
        self.pullPolicy = pullPolicy
    }
}

/// The outcome of a state-changing operation on one instance.
public struct OperationResult: Sendable {
    public var previousState: InstanceState
    /// The record after the operation took effect; nil once deleted.
    public var record: InstanceRecord?
}

/// What a driver is and whether it works here.
public struct DriverInfo: Sendable {
    public var name: String
    public var capabilities: DriverCapabilities
    public var probe: DriverProbe
    public var isDefault: Bool
    public var standby: StandbyStatus?
}

extension InstanceEngine {
    // MARK: - Reads

    public func get(_ nameOrUUID: String) throws(CorralError) -> InstanceRecord {
        try resolve(nameOrUUID)
    }

    nonisolated public func list() -> [InstanceRecord] {
        table.all()
    }

    nonisolated public var instanceCount: Int { table.count }

    /// The current record of an instance, nil once it is deleted.
    nonisolated public func record(_ uuid: UUID) -> InstanceRecord? {
        table.get(uuid)
    }

    public func driverInfos() -> [DriverInfo] {
        drivers.values.sorted { $0.name < $1.name }.map { driver in
            DriverInfo(
                name: driver.name,
                capabilities: driver.capabilities,
                probe: probes[driver.name] ?? DriverProbe(available: false, notes: ["not probed yet"]),
                isDefault: driver.name == configuration.defaultDriver,
                standby: driver.standbyStatus()
            )
        }
    }

    nonisolated func resolve(_ nameOrUUID: String) throws(CorralError) -> InstanceRecord {
        guard let record = table.resolve(nameOrUUID) else {
            throw .notFound("failed to find instance '\(nameOrUUID)': no such instance")
        }
        return record
    }

    // MARK: - Create

    /// Validates and stores new instances in one transaction, then queues their
    /// start when `autostart` is set. All are created or none.
    public func create(_ requests: [CreateInstance]) async throws(CorralError) -> [InstanceRecord] {
        guard !requests.isEmpty else { return [] }
        var records: [InstanceRecord] = []
        var names: [String] = []
        var planned: [(name: String, spec: InstanceSpec, desired: DesiredState, starter: (any InstanceDriver)?)] = []
        let now = clock.now()
        for request in requests {
            var spec = request.spec
            if spec.driver.isEmpty { spec.driver = configuration.defaultDriver }
            guard let driver = drivers[spec.driver] else {
                let known = drivers.keys.sorted().joined(separator: ", ")
                throw .invalidArgument("invalid driver '\(spec.driver)': not one of \(known)")
            }
            if let probe = probes[spec.driver], !probe.available {
                throw .unavailable(
                    "failed to create instance: the \(spec.driver) driver is not available here: \(probe.notes.joined(separator: "; "))"
                )
            }
            try InstanceValidation.validate(spec, limits: configuration.limits)
            try await pinImage(&spec, driver: driver, policy: request.pullPolicy)
            if !spec.ports.isEmpty && !driver.capabilities.contains(.network) {
                throw .invalidArgument("invalid field 'ports': the \(driver.name) driver has no network to publish from")
            }
            try driver.validate(spec)
            let name: String
            if let requested = request.name {
                name = requested
            } else {
                name = try generateName(for: spec, avoiding: names)
            }
            try InstanceValidation.validateName(name)
            names.append(name)
            let desired = DesiredState(power: request.autostart ? .running : .stopped, startRequest: request.autostart ? 1 : 0)
            planned.append((name, spec, desired, request.autostart ? driver : nil))
        }
        try table.reserve(names)
        defer { table.release(names) }
        // An instance started at once takes over a standby of its driver where there
        // is one: its uuid names everything the driver prepared.
        var claimed: [(UUID, any InstanceDriver)] = []
        for (name, spec, desired, starter) in planned {
            var uuid = UUID()
            if let starter, let standby = starter.claimStandby(for: spec) {
                uuid = standby
                claimed.append((standby, starter))
            }
            records.append(InstanceRecord(uuid: uuid, name: name, createdAt: now, spec: spec, desired: desired))
        }
        do {
            try await store.insert(records)
        } catch {
            for (uuid, driver) in claimed { await driver.releaseStandby(uuid) }
            throw error
        }
        for record in records {
            table.put(record)
            if request(record) { enqueue(record.uuid, .event(.reconcile)) }
        }
        return records
    }

    private func request(_ record: InstanceRecord) -> Bool {
        record.desired.power == .running
    }

    /// Resolves the spec's image to a digest (pulling per `policy`) and pins the
    /// spec to it, so the instance runs the same content for its whole life.
    private func pinImage(_ spec: inout InstanceSpec, driver: any InstanceDriver, policy: PullPolicy) async throws(CorralError) {
        guard driver.capabilities.contains(.images) else {
            if let image = spec.image {
                throw .invalidArgument(
                    "invalid field 'image' '\(image)': the \(driver.name) driver runs host commands, not images; pick the container or vm driver"
                )
            }
            return
        }
        guard let reference = spec.image, !reference.isEmpty else {
            throw .invalidArgument("invalid field 'image': the \(driver.name) driver needs an image")
        }
        guard let images else {
            throw .unavailable("failed to resolve image '\(reference)': this daemon has no image store")
        }
        spec.image = try await images.resolve(reference, policy: policy).pinned
    }

    /// The image digests instances are pinned to: what image GC must keep.
    nonisolated public func imagesInUse() -> Set<String> {
        Set(table.all().compactMap { record in
            record.spec.image.flatMap { image in
                image.range(of: "@sha256:").map { String(image[image.index(after: $0.lowerBound)...]) }
            }
        })
    }

    private func generateName(for spec: InstanceSpec, avoiding taken: [String]) throws(CorralError) -> String {
        let base = spec.image.map { String($0.split(separator: "/").last ?? "instance") }
            ?? spec.args.first.map { String($0.split(separator: "/").last ?? "instance") }
            ?? "instance"
        var stem = String(base.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }.prefix(40))
        while stem.hasPrefix("-") { stem.removeFirst() }
        while stem.hasSuffix("-") { stem.removeLast() }
        if stem.isEmpty || !(stem.unicodeScalars.allSatisfy { $0.isASCII }) { stem = "instance" }
        for _ in 0..<32 {
            let suffix = String(UInt32.random(in: 0..<UInt32.max), radix: 36).prefix(5)
            let name = "\(stem)-\(suffix)"
            if table.resolve(name) == nil && !taken.contains(name) { return name }
        }
        throw .internal("failed to create instance: could not pick a free name")
    }

    // MARK: - Lifecycle

    /// Starts a stopped instance or resumes a suspended one. Starting a running
    /// instance is not an error. Returns once the start is under way.
    public func start(_ nameOrUUID: String) async throws(CorralError) -> OperationResult {
        try await mutate(nameOrUUID) { (record) throws(CorralError) in
            guard !record.desired.deleteRequested else {
                throw .invalidState("failed to start instance '\(record.name)': it is being deleted")
            }
            record.desired.power = .running
            record.desired.startRequest += 1
        }
    }

    /// Stops an instance: SIGTERM, then SIGKILL after the grace (`force` skips it).
    /// Returns once the stop is under way; stopping a stopped instance is not an error.
    public func stop(_ nameOrUUID: String, _ request: StopRequest) async throws(CorralError) -> OperationResult {
        if let grace = request.graceMilliseconds, grace < 0 {
            throw .invalidArgument("invalid drain_timeout_ms \(grace): must not be negative")
        }
        return try await mutate(nameOrUUID) { (record) throws(CorralError) in
            guard !record.desired.deleteRequested else {
                throw .invalidState("failed to stop instance '\(record.name)': it is being deleted")
            }
            record.desired.power = .stopped
            record.desired.stop = request
        }
    }

    /// Freezes a running instance in place (`standby`); `start` resumes it.
    public func suspend(_ nameOrUUID: String) async throws(CorralError) -> OperationResult {
        let record = try resolve(nameOrUUID)
        guard let driver = drivers[record.spec.driver], driver.capabilities.contains(.freeze) else {
            throw .unsupported("failed to suspend instance '\(record.name)': the \(record.spec.driver) driver cannot freeze instances")
        }
        return try await mutate(nameOrUUID) { (record) throws(CorralError) in
            switch record.observed.phase {
            case .running, .standby:
                record.desired.power = .suspended
            default:
                throw .invalidState("failed to suspend instance '\(record.name)': it is \(record.state.rawValue), not running")
            }
        }
    }

    /// Deletes an instance, killing it first if it runs, and returns once every
    /// host resource and the record are gone.
    public func delete(_ nameOrUUID: String) async throws(CorralError) -> OperationResult {
        let outcome = try await mutate(nameOrUUID) { (record) throws(CorralError) in
            guard !record.spec.deleteLock else {
                throw .conflict("failed to delete instance '\(record.name)': delete_lock is set")
            }
            record.desired.deleteRequested = true
        }
        let uuid = try resolveUUID(outcome)
        _ = try await waitUntil(uuid, timeout: configuration.deleteTimeout, what: "deleted") { $0 == nil }
        return OperationResult(previousState: outcome.previousState, record: nil)
    }

    private nonisolated func resolveUUID(_ outcome: OperationResult) throws(CorralError) -> UUID {
        guard let uuid = outcome.record?.uuid else {
            throw .internal("failed to delete instance: its record vanished")
        }
        return uuid
    }

    /// Changes mutable fields (tags, env, args, limits) through the instance's
    /// mailbox. `change` validates against the current record and throws to refuse.
    public func update(
        _ nameOrUUID: String,
        _ change: @escaping @Sendable (inout InstanceRecord) throws(CorralError) -> Void
    ) async throws(CorralError) -> OperationResult {
        let limits = configuration.limits
        let drivers = self.drivers
        let table = self.table
        return try await mutate(nameOrUUID) { (record) throws(CorralError) in
            let before = record
            try change(&record)
            if record.name != before.name {
                try InstanceValidation.validateName(record.name)
                guard table.isNameFree(record.name, for: record.uuid) else {
                    throw .conflict("failed to rename instance: name '\(record.name)' is already taken")
                }
            }
            if record.spec != before.spec {
                try InstanceValidation.validate(record.spec, limits: limits)
                try drivers[record.spec.driver]?.validate(record.spec)
            }
        }
    }

    // MARK: - Waiting

    /// Waits until the instance reports `state`, or throws `timeout`.
    public func wait(_ nameOrUUID: String, for state: InstanceState, timeout: Duration) async throws(CorralError) -> InstanceRecord? {
        let record = try resolve(nameOrUUID)
        return try await waitUntil(record.uuid, timeout: timeout, what: state.rawValue) { current in
            guard let current else { return state == .deleted }
            return current.state == state
        }
    }

    /// Waits until a freshly started instance is running, or has stopped trying.
    /// Returns the record either way; throws `timeout` if neither happens in time.
    public func waitForStartOutcome(_ uuid: UUID, timeout: Duration) async throws(CorralError) -> InstanceRecord? {
        try await waitUntil(uuid, timeout: timeout, what: "running") { current in
            guard let current else { return true }
            switch current.observed.phase {
            case .running, .standby, .deleting: return true
            case .stopped:
                // A start request not yet picked up (a fresh autostart) is still to come.
                return current.observed.restart == nil
                    && current.observed.handledStartRequest >= current.desired.startRequest
            case .starting, .stopping: return false
            }
        }
    }

    /// Waits until the reconciler has acted on the latest change of desired state
    /// (a create's start has begun, say). Returns the record at that point, nil if
    /// it is gone; a timeout returns the record as it stands.
    public func waitUntilApplied(_ uuid: UUID, timeout: Duration) async throws(CorralError) -> InstanceRecord? {
        do {
            return try await waitUntil(uuid, timeout: timeout, what: "reconciled") { current in
                guard let current else { return true }
                return current.observed.appliedGeneration >= current.desired.generation
            }
        } catch {
            guard error.code == .timeout else { throw error }
            return table.get(uuid)
        }
    }

    nonisolated func waitUntil(
        _ uuid: UUID,
        timeout: Duration,
        what: String,
        condition: @escaping @Sendable (InstanceRecord?) -> Bool
    ) async throws(CorralError) -> InstanceRecord? {
        let table = self.table
        let waiters = self.waiters
        do {
            return try await withThrowingTaskGroup(of: InstanceRecord?.self) { group in
                group.addTask {
                    try await waiters.wait(for: uuid, current: { table.get(uuid) }, condition: condition)
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw CorralError.timeout("timed out after \(timeout) waiting for the instance to be \(what)")
                }
                defer { group.cancelAll() }
                guard let first = try await group.next() else { return nil }
                return first
            }
        } catch let error as CorralError {
            throw error
        } catch {
            throw .unavailable("failed to wait for instance: the request was cancelled")
        }
    }

    // MARK: - Exec and files

    /// Runs a command inside a running instance.
    public func exec(_ nameOrUUID: String, _ request: ExecRequest) async throws(CorralError) -> ExecResult {
        guard !request.command.isEmpty else { throw .invalidArgument("invalid field 'command': must not be empty") }
        let (record, driver, handle) = try runningInstance(nameOrUUID, needs: .exec, verb: "exec in")
        return try await driver.exec(record.uuid, handle: handle, request: request)
    }

    /// Starts a command with attached streams inside a running instance; the
    /// caller must close the session it gets.
    public func startExecSession(_ nameOrUUID: String, _ request: InteractiveExecRequest) async throws(CorralError)
        -> any ExecSession
    {
        guard !request.command.isEmpty else { throw .invalidArgument("invalid field 'command': must not be empty") }
        let (record, driver, handle) = try runningInstance(nameOrUUID, needs: .exec, verb: "attach to a command in")
        return try await driver.startExecSession(record.uuid, handle: handle, request: request)
    }

    public func readFile(_ nameOrUUID: String, path: String) async throws(CorralError) -> [UInt8] {
        let (record, driver, handle) = try runningInstance(nameOrUUID, needs: .files, verb: "read a file of")
        return try await driver.readFile(record.uuid, handle: handle, path: path)
    }

    public func writeFile(_ nameOrUUID: String, path: String, contents: [UInt8], mode: UInt32) async throws(CorralError) {
        let (record, driver, handle) = try runningInstance(nameOrUUID, needs: .files, verb: "write a file of")
        try await driver.writeFile(record.uuid, handle: handle, path: path, contents: contents, mode: mode)
    }

    private func runningInstance(
        _ nameOrUUID: String, needs capability: DriverCapabilities, verb: String
    ) throws(CorralError) -> (InstanceRecord, any InstanceDriver, DriverHandle) {
        let record = try resolve(nameOrUUID)
        guard let driver = drivers[record.spec.driver], driver.capabilities.contains(capability) else {
            throw .unsupported("failed to \(verb) instance '\(record.name)': the \(record.spec.driver) driver does not support it")
        }
        guard case .running(let handle) = record.observed.phase else {
            throw .invalidState("failed to \(verb) instance '\(record.name)': it is \(record.state.rawValue), not running")
        }
        return (record, driver, handle)
    }

    // MARK: - Logs and usage

    public func readLog(_ nameOrUUID: String, offset: Int64?, limit: Int) async throws(CorralError) -> (InstanceRecord, LogChunk) {
        let record = try resolve(nameOrUUID)
        guard let driver = drivers[record.spec.driver] else {
            throw .unavailable("failed to read log of '\(record.name)': driver \(record.spec.driver) is not available")
        }
        return (record, try await driver.readLog(record.uuid, offset: offset, limit: limit))
    }

    /// Usage of a running or suspended instance; nil when nothing runs.
    public func usage(_ record: InstanceRecord) async throws(CorralError) -> InstanceUsage? {
        guard let handle = record.observed.phase.handle, let driver = drivers[record.spec.driver] else { return nil }
        return try await driver.usage(record.uuid, handle: handle)
    }

    // MARK: - Mutation plumbing

    private func mutate(
        _ nameOrUUID: String,
        _ apply: @escaping @Sendable (inout InstanceRecord) throws(CorralError) -> Void
    ) async throws(CorralError) -> OperationResult {
        let record = try resolve(nameOrUUID)
        do {
            let outcome = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<MutationOutcome, any Error>) in
                enqueue(record.uuid, .mutate(Mutation(apply: apply), reply: continuation))
            }
            return OperationResult(previousState: outcome.previous.state, record: outcome.current)
        } catch let error as CorralError {
            throw error
        } catch {
            throw .internal("failed to change instance '\(record.name)'", cause: error)
        }
    }
}
