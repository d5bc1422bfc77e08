/// Constants of interactive sessions.
public enum AgentSession {
    /// The request id of the agent's `sessionOutput` and `sessionExited` (high bit:
    /// the agent's own; never acknowledged).
    public static let eventRequestID: UInt32 = 0x8000_0002
    /// Output bytes the agent may send for a session before the host grants more.
    public static let initialWindow: UInt32 = 256 << 10
    /// The largest output payload of one `sessionOutput`.
    public static let outputChunk = 32 << 10
}
