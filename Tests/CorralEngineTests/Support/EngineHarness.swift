import CorralCore
import CorralEngine
import Foundation
import Logging
import Synchronization
import Testing

/// An engine wired to the in-memory store, the fake driver and the manual clock.
struct EngineHarness: Sendable {
    let store: InMemoryStateStore
    let driver: FakeDriver
    let clock: ManualClock
    let events: DriverEventStream
    let engine: InstanceEngine

    static let logger = Logger(label: "corral.engine.tests") { _ in SwiftLogNoOpLogHandler() }

    /// Builds an engine over `store`, loading what it holds as a daemon does at start-up.
    static func make(
        store: InMemoryStateStore = InMemoryStateStore(),
        driver: FakeDriver? = nil,
        clock: ManualClock = ManualClock(),
        capabilities: DriverCapabilities = [],
        workers: Int = 4
    ) async throws -> EngineHarness {
        let events = DriverEventStream()
        let fake: FakeDriver
        if let driver {
            await driver.setSink(events)
            fake = driver
        } else {
            fake = FakeDriver(capabilities: capabilities, sink: events)
        }
        let engine = InstanceEngine(
            configuration: .init(defaultDriver: "fake", workers: workers),
            store: store,
            drivers: [fake],
            exits: events.exits,
            loaded: try await store.load(),
            clock: clock,
            logger: logger
        )
        return EngineHarness(store: store, driver: fake, clock: clock, events: events, engine: engine)
    }

    /// Runs the engine as `Task { try await engine.run() }`.
    func run() -> EngineRun {
        EngineRun(engine)
    }

    func uuid(_ name: String) async throws -> UUID {
        try await engine.get(name).uuid
    }

    func record(_ name: String) async throws -> InstanceRecord {
        try await engine.get(name)
    }
}

/// A running engine task, and whether `run()` has returned.
final class EngineRun: Sendable {
    let task: Task<Void, any Error>
    private let done: Flag

    init(_ engine: InstanceEngine) {
        let done = Flag()
        self.done = done
        task = Task {
            defer { done.set() }
            try await engine.run()
        }
    }

    var finished: Bool { done.value }

    /// Cancels the engine's task and checks that `run()` returns in bounded time.
    func stop(sourceLocation: SourceLocation = #_sourceLocation) async {
        task.cancel()
        let deadline = ContinuousClock.now + .seconds(10)
        while !finished && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(2))
        }
        #expect(finished, "the engine's run() did not return after its task was cancelled", sourceLocation: sourceLocation)
    }
}

final class Flag: Sendable {
    private let state = Mutex(false)
    func set() { state.withLock { $0 = true } }
    var value: Bool { state.withLock { $0 } }
}

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Builds a running engine, hands it to `body`, then stops it, whatever `body` did,
/// and checks the invariants every test must keep: the engine stops on cancellation,
/// and no instance ever had two driver calls in flight at once.
func withEngine(
    store: InMemoryStateStore = InMemoryStateStore(),
    clock: ManualClock = ManualClock(),
    capabilities: DriverCapabilities = [],
    workers: Int = 4,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: (EngineHarness) async throws -> Void
) async throws {
    let harness = try await EngineHarness.make(store: store, clock: clock, capabilities: capabilities, workers: workers)
    let run = harness.run()
    var failure: (any Error)?
    do {
        try await body(harness)
    } catch {
        failure = error
    }
    await run.stop(sourceLocation: sourceLocation)
    let overlaps = await harness.driver.overlaps
    #expect(overlaps.isEmpty, "overlapping driver calls: \(overlaps)", sourceLocation: sourceLocation)
    let violations = await harness.driver.violations
    #expect(violations.isEmpty, "driver contract violations: \(violations)", sourceLocation: sourceLocation)
    if let failure { throw failure }
}

/// Polls `condition` until it holds, for at most `timeout` (real time).
func eventually(
    _ what: String,
    timeout: Duration = .seconds(10),
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return }
        if ContinuousClock.now >= deadline { break }
        try await Task.sleep(for: .milliseconds(2))
    }
    Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
    throw TimedOut(what: what)
}

/// Gives the engine a moment to do something it must not do; for negative checks.
func settle() async {
    for _ in 0..<20 { await Task.yield() }
    try? await Task.sleep(for: .milliseconds(50))
}

extension InstanceSpec {
    static func fake(_ policy: RestartPolicy = .never, features: [InstanceFeature] = []) -> InstanceSpec {
        InstanceSpec(driver: "fake", args: ["/bin/workload"], memoryMB: 64, vcpus: 1, restartPolicy: policy, features: features)
    }
}

extension CreateInstance {
    static func named(_ name: String?, _ policy: RestartPolicy = .never, autostart: Bool = true) -> CreateInstance {
        CreateInstance(name: name, spec: .fake(policy), autostart: autostart)
    }
}

/// The error `body` throws, as a `CorralError`; records an issue if it throws none.
func corralError(
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async -> CorralError? {
    do {
        try await body()
        Issue.record("expected an error, got none", sourceLocation: sourceLocation)
        return nil
    } catch let error as CorralError {
        return error
    } catch {
        Issue.record("expected a CorralError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
