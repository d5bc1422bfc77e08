import CorralEngine
import Foundation
import Synchronization

/// An `EngineClock` whose time moves only when a test calls `advance(by:)`.
///
/// `sleep(until:)` returns once `now` has reached the deadline, at once if it already
/// has, and throws `CancellationError` as soon as the sleeping task is cancelled.
final class ManualClock: EngineClock {
    private struct Sleeper {
        var deadline: Date
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Date
        var nextID = 0
        var sleepers: [Int: Sleeper] = [:]
    }

    private let state: Mutex<State>

    init(start: Date = Date(timeIntervalSince1970: 1_700_000_000)) {
        state = Mutex(State(now: start))
    }

    func now() -> Date {
        state.withLock { $0.now }
    }

    func sleep(until deadline: Date) async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case wait, due, cancelled }
                // Checked under the lock so neither an advance nor a cancellation can
                // slip between the check and the registration.
                let outcome: Outcome = state.withLock { state in
                    if Task.isCancelled { return .cancelled }
                    if deadline <= state.now { return .due }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return .wait
                }
                switch outcome {
                case .wait: break
                case .due: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline has come.
    func advance(by seconds: TimeInterval) {
        let due: [CheckedContinuation<Void, any Error>] = state.withLock { state in
            state.now = state.now.addingTimeInterval(seconds)
            let now = state.now
            let ids = state.sleepers.filter { $0.value.deadline <= now }.map(\.key)
            return ids.compactMap { state.sleepers.removeValue(forKey: $0)?.continuation }
        }
        for continuation in due { continuation.resume() }
    }

    /// The deadlines somebody is sleeping until, earliest first.
    var deadlines: [Date] {
        state.withLock { $0.sleepers.values.map(\.deadline).sorted() }
    }
}
