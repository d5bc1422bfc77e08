/// Undo actions of a multi-step operation running on one thread, run in reverse
/// when it fails part-way, so a failed operation leaves nothing behind. The
/// synchronous counterpart of `CorralHost.UndoStack`, for `NamespaceWorker` jobs.
struct SynchronousUndoStack {
    private var actions: [() -> Void] = []

    /// Registers the undo of a step, before the step: undo actions must be harmless
    /// when the step did not happen.
    mutating func push(_ action: @escaping () -> Void) {
        actions.append(action)
    }

    /// Runs every registered action, newest first, and forgets them.
    mutating func unwind() {
        while let action = actions.popLast() { action() }
    }

    /// Forgets the registered actions: the operation succeeded.
    mutating func commit() {
        actions.removeAll()
    }
}
