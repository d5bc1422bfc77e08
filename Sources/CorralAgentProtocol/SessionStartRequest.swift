/// `sessionStart`: start a command whose streams stay attached to the host.
///
/// The host picks `session`, unique among the connection's sessions; every later
/// session message names it.
public struct SessionStartRequest: Equatable, Sendable {
    public var session: UInt32
    /// The command; `argv[0]` without a `/` is looked up in the `PATH` of `environment`.
    public var argv: [String]
    /// `KEY=value` entries laid over the agent's default environment.
    public var environment: [String]
    /// The working directory; nil keeps the agent's (`/`).
    public var workingDirectory: String?
    /// The command gets a terminal of this size as its controlling terminal and
    /// stdio; nil: three pipes, stderr apart.
    public var terminal: SessionTerminalSize?

    public init(
        session: UInt32, argv: [String], environment: [String] = [], workingDirectory: String? = nil,
        terminal: SessionTerminalSize? = nil
    ) {
        self.session = session
        self.argv = argv
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.terminal = terminal
    }
}

/// A terminal's size in character cells.
public struct SessionTerminalSize: Equatable, Sendable {
    public var columns: UInt16
    public var rows: UInt16

    public init(columns: UInt16, rows: UInt16) {
        self.columns = columns
        self.rows = rows
    }
}

extension SessionStartRequest {
    func write(to writer: inout AgentPayloadWriter) {
        typealias Tag = AgentMessage.Tag
        writer.int(Tag.session, Int64(session))
        writer.strings(Tag.argv, argv)
        writer.strings(Tag.env, environment)
        if let workingDirectory { writer.string(Tag.cwd, workingDirectory) }
        terminal?.write(to: &writer)
    }

    init(fields: AgentPayloadReader) throws(AgentProtocolError) {
        typealias Tag = AgentMessage.Tag
        session = try fields.fitting(UInt32.self, Tag.session, "session")
        argv = try fields.strings(Tag.argv, "argv")
        guard !argv.isEmpty else { throw .malformedPayload("sessionStart: argv is empty") }
        environment = try fields.strings(Tag.env, "env")
        workingDirectory = try fields.optionalString(Tag.cwd, "cwd")
        terminal = fields.has(Tag.columns) ? try SessionTerminalSize(fields: fields) : nil
    }
}

extension SessionTerminalSize {
    func write(to writer: inout AgentPayloadWriter) {
        writer.int(AgentMessage.Tag.columns, Int64(columns))
        writer.int(AgentMessage.Tag.rows, Int64(rows))
    }

    init(fields: AgentPayloadReader) throws(AgentProtocolError) {
        columns = try fields.fitting(UInt16.self, AgentMessage.Tag.columns, "columns")
        rows = try fields.fitting(UInt16.self, AgentMessage.Tag.rows, "rows")
    }
}
