/// Undo actions registered as a multi-step operation goes, run in reverse when it
/// fails part-way, so a failed operation leaves nothing behind.
public struct UndoStack: Sendable {
    private var actions: [@Sendable () async -> Void] = []

    public init() {}

    /// Registers the undo of a step that has just succeeded.
    public mutating func push(_ action: @escaping @Sendable () async -> Void) {
        actions.append(action)
    }

    /// Runs every registered action, newest first, and forgets them.
    public mutating func unwind() async {
        while let action = actions.popLast() { await action() }
    }

    /// Forgets the registered actions: the operation succeeded.
    public mutating func commit() {
        actions.removeAll()
    }
}
