import Synchronization

/// Decides the accelerator lazily, once: concurrent callers share one decision
/// (and, for `auto`, one probe VM).
final class AcceleratorSelection: Sendable {
    private let decide: @Sendable () async -> AcceleratorDecision
    private let state = Mutex<Task<AcceleratorDecision, Never>?>(nil)

    init(decide: @escaping @Sendable () async -> AcceleratorDecision) {
        self.decide = decide
    }

    /// The decision, made by the first caller.
    func decision() async -> AcceleratorDecision {
        let task = state.withLock { state in
            if let state { return state }
            let task = Task { [decide] in await decide() }
            state = task
            return task
        }
        return await task.value
    }

    /// The decision if it has been made, without making it.
    func decidedAlready() async -> AcceleratorDecision? {
        guard let task = state.withLock({ $0 }) else { return nil }
        return await task.value
    }
}
