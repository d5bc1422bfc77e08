import CorralCore
import Foundation
import Logging
import ServiceLifecycle

/// The application core: owns every instance record, serializes the work on each
/// instance, drives the drivers through the transition machine, and persists each
/// transition before anyone can observe it.
///
/// Reads (`get`, `list`) never wait for work in progress. Writes go through the
/// instance's mailbox, so an instance is never reconciled by two workers at once.
public actor InstanceEngine: Service {
    public struct Configuration: Sendable {
        public var limits: InstanceLimits
        public var defaultDriver: String
        public var machine: InstanceMachine
        /// How many instances are worked on at once.
        public var workers: Int
        /// How long `delete` waits for the instance's resources to be gone.
        public var deleteTimeout: Duration

        public init(
            limits: InstanceLimits = .init(),
            defaultDriver: String = "process",
            machine: InstanceMachine = .init(),
            workers: Int = 16,
            deleteTimeout: Duration = .seconds(60)
        ) {
            self.limits = limits
            self.defaultDriver = defaultDriver
            self.machine = machine
            self.workers = workers
            self.deleteTimeout = deleteTimeout
        }
    }

    let configuration: Configuration
    let store: any StateStore
    let drivers: [String: any InstanceDriver]
    /// Resolves and pins images for drivers that run them; nil when there is no store.
    let images: (any ImageProvider)?
    let clock: any EngineClock
    let logger: Logger
    let table: RecordTable
    let waiters = WaiterRegistry()
    private let exits: AsyncStream<DriverExit>
    var probes: [String: DriverProbe] = [:]
    private var recovered: [InstanceRecord]

    private var queue = WorkQueue()
    private var idleWorkers: [CheckedContinuation<UUID?, Never>] = []
    private var wakeups = WakeupSchedule()
    private let wakeupChanged = WakeSignal()
    private var shuttingDown = false
    /// Events whose transition the store refused, oldest first, per instance. They
    /// carry facts that a later reconcile cannot rediscover (a start's handle, an
    /// exit status), so they are applied again before anything newer.
    var deferredEvents: [UUID: [InstanceEvent]] = [:]

    /// - Parameters:
    ///   - loaded: what the store held at start-up; running instances among it are
    ///     re-adopted and half-done operations finished once `run()` starts.
    ///   - exits: the stream the drivers report workload exits into.
    public init(
        configuration: Configuration,
        store: any StateStore,
        drivers: [any InstanceDriver],
        exits: AsyncStream<DriverExit>,
        loaded: LoadedState,
        images: (any ImageProvider)? = nil,
        clock: any EngineClock = SystemEngineClock(),
        logger: Logger
    ) {
        self.configuration = configuration
        self.images = images
        self.store = store
        self.drivers = Dictionary(drivers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.exits = exits
        self.clock = clock
        self.logger = logger
        self.table = RecordTable(loaded.instances)
        self.recovered = loaded.instances
        for item in loaded.quarantined {
            logger.error("quarantined an undecodable instance record", metadata: ["key": "\(item.key)", "reason": "\(item.reason)"])
        }
    }

    // MARK: - Service

    /// Probes the drivers, queues recovery of every stored instance, then runs the
    /// workers, the wake-up timer and the exit listener until shutdown. Instances
    /// keep running when this returns.
    public func run() async throws {
        if probes.isEmpty { await probeDrivers() }
        queueRecovery()
        // Idle workers wait on continuations that cancellation does not reach, so a
        // plain cancellation must stop them the same way a graceful shutdown does.
        await withTaskCancellationOrGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for _ in 0..<max(1, configuration.workers) {
                    group.addTask { await self.workerLoop() }
                }
                group.addTask { await self.timerLoop() }
                group.addTask { await self.exitLoop() }
            }
        } onCancelOrGracefulShutdown: {
            Task { await self.shutdown() }
        }
        failPendingMutations()
    }

    /// Asks every driver whether it can run here. `run()` does this itself when it
    /// has not been done; call it first to have the answers before serving requests.
    public func probeDrivers() async {
        for (name, driver) in drivers {
            probes[name] = await driver.probe()
        }
    }

    private func shutdown() {
        shuttingDown = true
        for worker in idleWorkers { worker.resume(returning: nil) }
        idleWorkers.removeAll()
        wakeupChanged.signal()
    }

    /// Answers every API change no worker will pick up any more, so no caller
    /// waits forever on a stopped engine.
    private func failPendingMutations() {
        for item in queue.drainAll() {
            if case .mutate(_, let reply) = item { reply.resume(throwing: Self.stoppedError) }
        }
    }

    private static let stoppedError = CorralError.unavailable("failed to change instance: the engine is shutting down")

    private func queueRecovery() {
        for record in recovered {
            switch record.observed.phase {
            case .running, .stopping, .standby:
                enqueue(record.uuid, .adopt)
            case .starting:
                enqueue(record.uuid, .event(.startInterrupted))
            case .stopped, .deleting:
                enqueue(record.uuid, .event(.reconcile))
            }
        }
        recovered = []
    }

    // MARK: - Queue

    func enqueue(_ uuid: UUID, _ item: WorkItem) {
        if shuttingDown, case .mutate(_, let reply) = item {
            reply.resume(throwing: Self.stoppedError)
            return
        }
        guard queue.enqueue(uuid, item) else { return }
        wakeIdleWorker()
    }

    private func wakeIdleWorker() {
        guard !idleWorkers.isEmpty, let uuid = queue.claim() else { return }
        idleWorkers.removeFirst().resume(returning: uuid)
    }

    private func nextWork() async -> UUID? {
        if shuttingDown { return nil }
        if let uuid = queue.claim() { return uuid }
        return await withCheckedContinuation { idleWorkers.append($0) }
    }

    private func drain(_ uuid: UUID) -> [WorkItem] { queue.drain(uuid) }

    private func release(_ uuid: UUID) {
        if queue.release(uuid) { wakeIdleWorker() }
    }

    private func workerLoop() async {
        while let uuid = await nextWork() {
            while true {
                let items = drain(uuid)
                if items.isEmpty { break }
                for item in items { await handle(uuid, item) }
            }
            release(uuid)
        }
    }

    // MARK: - Timer

    func schedule(_ uuid: UUID, at date: Date) {
        if wakeups.schedule(uuid, at: date) { wakeupChanged.signal() }
    }

    private func takeDueWakeups() -> (due: [UUID], next: Date?) {
        let due = wakeups.takeDue(now: clock.now())
        return (due, wakeups.earliest)
    }

    private func timerLoop() async {
        while !Task.isCancelled && !shuttingDown {
            let (due, next) = takeDueWakeups()
            for uuid in due { enqueue(uuid, .event(.reconcile)) }
            guard let next else {
                await wakeupChanged.wait()
                continue
            }
            // Sleep until the deadline or until an earlier one is scheduled.
            let clock = self.clock
            let signal = wakeupChanged
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await clock.sleep(until: next) }
                group.addTask { await signal.wait() }
                await group.next()
                group.cancelAll()
            }
        }
    }

    // MARK: - Exits

    private func exitLoop() async {
        // A graceful shutdown ends the listening; the drivers keep reporting into
        // the stream, and a restarted daemon re-adopts whatever exited meanwhile.
        for await exit in exits.cancelOnGracefulShutdown() {
            if table.get(exit.uuid) == nil {
                logger.warning("exit reported for an unknown instance", metadata: ["uuid": "\(exit.uuid)"])
                continue
            }
            enqueue(exit.uuid, .event(.exited(exit.status)))
        }
    }
}
