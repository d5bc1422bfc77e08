/// Unikraft Cloud's restart back-off: immediate, 5 s, 10 s, 20 s, … capped at 5 min.
public enum RestartBackoff {
    /// A run at least this long ends the restart sequence: the next crash starts over.
    public static let healthyAfterSeconds: Double = 10
    public static let capSeconds: Double = 300

    /// The delay before restart number `attempt` (1-based) of a sequence.
    public static func delaySeconds(attempt: Int) -> Double {
        guard attempt > 1 else { return 0 }
        var delay = 5.0
        var step = 2
        while step < attempt && delay < capSeconds {
            delay *= 2
            step += 1
        }
        return min(delay, capSeconds)
    }
}
