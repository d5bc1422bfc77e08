import CorralCore
import Dispatch
import Foundation
import Synchronization

/// A dedicated thread that runs blocking jobs one at a time, in submission order,
/// inside one network namespace (or the process's own when none is given).
///
/// Jobs never run on the Swift cooperative pool, and processes they spawn inherit
/// the thread's namespace. If the namespace cannot be entered, every job fails
/// with that error. Cancelling a waiting task does not interrupt its job.
final class NamespaceWorker: Sendable {
    private final class Queue: Sendable {
        struct State {
            var jobs: [@Sendable () -> Void] = []
            var stopped = false
        }
        let state = Mutex(State())
        let wakeups = DispatchSemaphore(value: 0)
    }

    let namespacePath: String?
    private let queue = Queue()
    private let entered: Mutex<Result<Void, CorralError>?> = Mutex(nil)

    init(name: String, namespacePath: String?) {
        self.namespacePath = namespacePath
        let queue = self.queue
        let thread = Thread {
            while true {
                queue.wakeups.wait()
                let next: (@Sendable () -> Void)? = queue.state.withLock { state in
                    state.jobs.isEmpty ? nil : state.jobs.removeFirst()
                }
                guard let next else { return }
                next()
            }
        }
        thread.name = name
        thread.start()
    }

    deinit {
        shutdown()
    }

    /// Runs `body` on the worker thread and returns its result.
    ///
    /// Throws `unavailable` without running `body` when the worker has stopped or
    /// its namespace could not be entered.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws(CorralError) -> T) async throws(CorralError) -> T {
        let result: Result<T, CorralError> = await withCheckedContinuation { continuation in
            let job: @Sendable () -> Void = { [self] in
                do throws(CorralError) {
                    try enterNamespaceOnce()
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            let accepted = queue.state.withLock { state in
                if state.stopped { return false }
                state.jobs.append(job)
                return true
            }
            if accepted {
                queue.wakeups.signal()
            } else {
                continuation.resume(returning: .failure(.unavailable("failed to run network operation: the worker has stopped")))
            }
        }
        return try result.get()
    }

    /// Lets queued jobs finish, then ends the thread; later `run` calls fail. Idempotent.
    func shutdown() {
        let first = queue.state.withLock { state in
            if state.stopped { return false }
            state.stopped = true
            return true
        }
        // One extra wakeup finds the queue empty and ends the thread.
        if first { queue.wakeups.signal() }
    }

    private func enterNamespaceOnce() throws(CorralError) {
        guard let namespacePath else { return }
        let outcome: Result<Void, CorralError> = entered.withLock { entered in
            if let entered { return entered }
            let result: Result<Void, CorralError>
            do throws(CorralError) {
                try LinuxNamespace.enterNetworkNamespace(at: namespacePath)
                result = .success(())
            } catch {
                result = .failure(error)
            }
            entered = result
            return result
        }
        try outcome.get()
    }
}
