import CorralCore

/// Runs at most one operation per key at a time: callers that arrive while one is
/// running share its result instead of starting their own.
///
/// The operation runs in a task owned by this object and completes even when the
/// caller that started it is cancelled.
actor SingleFlight<Value: Sendable> {
    private var running: [String: Task<Result<Value, CorralError>, Never>] = [:]

    func run(
        _ key: String, _ operation: @escaping @Sendable () async -> Result<Value, CorralError>
    ) async throws(CorralError) -> Value {
        if let task = running[key] { return try await task.value.get() }
        let task = Task { await operation() }
        running[key] = task
        let result = await task.value
        running[key] = nil
        return try result.get()
    }
}
