import Foundation

/// Wall-clock time for the engine: what `now` is, and sleeping until a moment.
/// Tests substitute a manual clock to drive restart back-off without waiting.
public protocol EngineClock: Sendable {
    func now() -> Date
    /// Returns at `deadline` or later; throws `CancellationError` when cancelled.
    func sleep(until deadline: Date) async throws
}

/// The real clock.
public struct SystemEngineClock: EngineClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until deadline: Date) async throws {
        let seconds = deadline.timeIntervalSinceNow
        guard seconds > 0 else { return }
        try await Task.sleep(for: .milliseconds(Int64((seconds * 1000).rounded(.up))))
    }
}
