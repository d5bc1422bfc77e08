import CorralCore
import Foundation
import Synchronization

/// Callers suspended until a record satisfies a condition. Safe to use from any
/// context, so a cancelled waiter can be removed from the cancellation handler.
final class WaiterRegistry: Sendable {
    typealias Condition = @Sendable (InstanceRecord?) -> Bool

    private struct Waiter {
        var uuid: UUID
        var condition: Condition
        var continuation: CheckedContinuation<InstanceRecord?, any Error>
    }

    private struct State {
        var nextID = 0
        var waiters: [Int: Waiter] = [:]
    }

    private let state = Mutex(State())

    /// Suspends until `condition` holds for the record (nil once it is deleted),
    /// checked on every `notify`. `current` is checked first, under the lock, so no
    /// change can slip between the check and the registration.
    func wait(
        for uuid: UUID,
        current: () -> InstanceRecord?,
        condition: @escaping Condition
    ) async throws -> InstanceRecord? {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let resumeNow: InstanceRecord?? = state.withLock { state in
                    if Task.isCancelled { return .some(nil) }
                    let record = current()
                    if condition(record) { return .some(record) }
                    state.waiters[id] = Waiter(uuid: uuid, condition: condition, continuation: continuation)
                    return .none
                }
                switch resumeNow {
                case .none:
                    break
                case .some(let record):
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        continuation.resume(returning: record)
                    }
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Resumes every waiter on `uuid` whose condition now holds.
    func notify(_ uuid: UUID, record: InstanceRecord?) {
        let ready: [(CheckedContinuation<InstanceRecord?, any Error>)] = state.withLock { state in
            var out: [CheckedContinuation<InstanceRecord?, any Error>] = []
            for (id, waiter) in state.waiters where waiter.uuid == uuid && waiter.condition(record) {
                out.append(waiter.continuation)
                state.waiters.removeValue(forKey: id)
            }
            return out
        }
        for continuation in ready {
            continuation.resume(returning: record)
        }
    }
}
