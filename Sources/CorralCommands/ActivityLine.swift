import Foundation

/// A one-line activity indicator on standard error for requests that answer
/// only once done: a spinner, a label and the time spent, without claiming a
/// progress it does not know.
enum ActivityLine {
    static let frames: [Character] = Array("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
    static let interval: Duration = .milliseconds(100)
    /// Longest label shown, so the line fits a terminal and `\r` can rewrite it.
    static let labelLimit = 60

    /// Runs `operation`, showing `<spinner> <label>… <seconds>s` on standard
    /// error while it runs when standard error is a terminal, and nothing
    /// otherwise. The line is erased before this returns or throws, so what
    /// follows starts on a clean line.
    static func showing<Result>(_ label: String, _ operation: () async throws -> Result) async throws -> Result {
        guard isatty(STDERR_FILENO) == 1 else { return try await operation() }
        defer { Console.stderr("\r\u{1B}[2K") }
        let shown = Output.truncate(label, labelLimit)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await spin(shown) }
            defer { group.cancelAll() }
            return try await operation()
        }
    }

    /// Redraws the line every `interval` until cancelled.
    private static func spin(_ label: String) async {
        let started = ContinuousClock.now
        var tick = 0
        while !Task.isCancelled {
            let seconds = (ContinuousClock.now - started).components.seconds
            Console.stderr("\r\u{1B}[2K\(frames[tick % frames.count]) \(label)… \(seconds)s")
            tick += 1
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }
}
