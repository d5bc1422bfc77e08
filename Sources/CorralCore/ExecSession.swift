/// A command to run inside an instance with its standard streams attached to
/// the caller as they happen.
public struct InteractiveExecRequest: Sendable, Equatable {
    public var command: [String]
    public var env: [String: String]
    public var workingDirectory: String?
    /// The command gets a terminal of this size; nil: pipes, stderr apart.
    public var terminal: TerminalSize?

    public init(command: [String], env: [String: String] = [:], workingDirectory: String? = nil, terminal: TerminalSize? = nil) {
        self.command = command
        self.env = env
        self.workingDirectory = workingDirectory
        self.terminal = terminal
    }
}

/// A terminal's size in character cells.
public struct TerminalSize: Sendable, Equatable, Hashable {
    public var columns: UInt16
    public var rows: UInt16

    public init(columns: UInt16, rows: UInt16) {
        self.columns = columns
        self.rows = rows
    }
}

/// What an interactive command produced, in order.
public enum ExecSessionEvent: Sendable, Equatable {
    /// Standard output (with a terminal: everything written to it).
    case stdout([UInt8])
    /// Standard error, without a terminal only.
    case stderr([UInt8])
    /// The command ended with this code (128 + n when signal n killed it). Last event.
    case exited(Int32)
    /// The command could not run or the session broke. Last event.
    case failed(CorralError)
}

/// A command running inside an instance, started by
/// `InstanceDriver.startExecSession`.
///
/// `nextEvent` is meant for one consumer; the input methods may be called from
/// another task concurrently. Whoever starts a session must `close` it, also
/// when its client has gone away: that ends the command if it still runs.
public protocol ExecSession: Sendable {
    /// The next output or the ending; nil after the last event or once closed.
    /// Output is produced only as fast as it is taken.
    func nextEvent() async -> ExecSessionEvent?

    /// Writes to the command's standard input (its terminal, with one); returns
    /// once every byte is written.
    /// - Throws: `invalidState` once the input was closed or the command ended.
    func writeInput(_ bytes: [UInt8]) async throws(CorralError)

    /// Ends the command's input: end of file on its pipe, or the terminal's
    /// end-of-file character. Idempotent.
    func closeInput()

    /// Resizes the command's terminal (its foreground process gets SIGWINCH).
    /// - Throws: `invalidState` without a terminal.
    func resize(_ size: TerminalSize) throws(CorralError)

    /// Sends signal `number` to the command.
    func signal(_ number: Int32) throws(CorralError)

    /// Kills the command if it still runs and releases everything the session
    /// holds; a pending `nextEvent` returns nil. Idempotent.
    func close()
}
