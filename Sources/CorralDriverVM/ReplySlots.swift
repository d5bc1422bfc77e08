import CorralCore
import Synchronization

/// Replies awaited by id on a connection. A slot is opened before the request is
/// sent, so a reply (or a timeout) that comes before anyone waits is kept until
/// the waiter arrives; every slot is resolved exactly once.
final class ReplySlots<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    enum Slot {
        case open
        case waiting(CheckedContinuation<Result<Value, CorralError>, Never>)
        case resolved(Result<Value, CorralError>)
    }

    struct State {
        var slots: [Key: Slot] = [:]
        /// Set once the connection is gone: new slots resolve to it at once.
        var closed: CorralError?
    }

    let state = Mutex(State())

    /// Opens the slot for `key`; a slot opened after `closeAll` is resolved with its error.
    func open(_ key: Key) {
        state.withLock { state in
            if let closed = state.closed {
                state.slots[key] = .resolved(.failure(closed))
            } else if state.slots[key] == nil {
                state.slots[key] = .open
            }
        }
    }

    /// Whether a slot for `key` is open and unresolved.
    func isOpen(_ key: Key) -> Bool {
        state.withLock { state in
            switch state.slots[key] {
            case .open?, .waiting?: true
            default: false
            }
        }
    }

    /// Resolves `key`'s slot if it is open; a no-op otherwise. Returns whether it did.
    @discardableResult
    func resolve(_ key: Key, _ result: Result<Value, CorralError>) -> Bool {
        let (resolved, waiter): (Bool, CheckedContinuation<Result<Value, CorralError>, Never>?) = state.withLock { state in
            switch state.slots[key] {
            case .open?:
                state.slots[key] = .resolved(result)
                return (true, nil)
            case .waiting(let continuation)?:
                state.slots[key] = nil
                return (true, continuation)
            default:
                return (false, nil)
            }
        }
        waiter?.resume(returning: result)
        return resolved
    }

    /// Waits for `key`'s slot to be resolved and closes it. The slot must be open.
    func wait(_ key: Key) async -> Result<Value, CorralError> {
        await withCheckedContinuation { continuation in
            let ready: Result<Value, CorralError>? = state.withLock { state in
                switch state.slots[key] {
                case .resolved(let result)?:
                    state.slots[key] = nil
                    return result
                case .open?:
                    state.slots[key] = .waiting(continuation)
                    return nil
                default:
                    return .failure(.internal("failed to wait for a reply: no request is pending under this id"))
                }
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Resolves every open slot, and every later one, with `error`.
    func closeAll(_ error: CorralError) {
        let waiters: [CheckedContinuation<Result<Value, CorralError>, Never>] = state.withLock { state in
            if state.closed == nil { state.closed = error }
            var waiters: [CheckedContinuation<Result<Value, CorralError>, Never>] = []
            for (key, slot) in state.slots {
                switch slot {
                case .open: state.slots[key] = .resolved(.failure(error))
                case .waiting(let continuation):
                    waiters.append(continuation)
                    state.slots[key] = nil
                case .resolved: break
                }
            }
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: .failure(error)) }
    }

    /// Waits for `key` until `timeout`, then resolves it with `timeoutError`.
    func wait(_ key: Key, timeout: Duration, timeoutError: @autoclosure @Sendable () -> CorralError) async -> Result<Value, CorralError> {
        let error = timeoutError()
        return await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { resolve(key, .failure(error)) }
            }
            let result = await wait(key)
            group.cancelAll()
            return result
        }
    }
}

extension ReplySlots {
    /// Whether `closeAll` was called.
    var isClosed: Bool { state.withLock { $0.closed != nil } }
}
