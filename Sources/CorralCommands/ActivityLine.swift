import Foundation
import Synchronization

/// A one-line activity indicator on standard error for requests that answer
/// only once done: a spinner, a label and the time spent, without claiming a
/// progress it does not know.
enum ActivityLine {
    static let frames: [Character] = Array("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
    static let interval: Duration = .milliseconds(100)
    /// Longest label shown, so the line fits a terminal and `\r` can rewrite it.
    static let labelLimit = 60

    /// Runs `operation`, showing `<spinner> <label>… <seconds>s <detail>` on
    /// standard error while it runs when standard error is a terminal, and nothing
    /// otherwise; `operation` sets the detail (progress it learns) through the
    /// closure it is given. The line is erased before this returns or throws, so
    /// what follows starts on a clean line.
    static func showing<Result>(
        _ label: String, _ operation: (@escaping @Sendable (String) -> Void) async throws -> Result
    ) async throws -> Result {
        let detail = ActivityDetail()
        let update: @Sendable (String) -> Void = { text in detail.set(text) }
        guard isatty(STDERR_FILENO) == 1 else { return try await operation(update) }
        defer { Console.stderr("\r\u{1B}[2K") }
        let shown = Output.truncate(label, labelLimit)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await spin(shown, detail: detail) }
            defer { group.cancelAll() }
            return try await operation(update)
        }
    }

    /// Redraws the line every `interval` until cancelled.
    private static func spin(_ label: String, detail: ActivityDetail) async {
        let started = ContinuousClock.now
        var tick = 0
        while !Task.isCancelled {
            let seconds = (ContinuousClock.now - started).components.seconds
            let text = detail.current
            Console.stderr("\r\u{1B}[2K\(frames[tick % frames.count]) \(label)… \(seconds)s\(text.isEmpty ? "" : "  " + text)")
            tick += 1
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }
}

/// The latest progress text of an activity line, set by the operation and read by
/// the spinner.
final class ActivityDetail: Sendable {
    private let text = Mutex("")

    func set(_ value: String) { text.withLock { $0 = value } }

    var current: String { text.withLock { $0 } }
}
