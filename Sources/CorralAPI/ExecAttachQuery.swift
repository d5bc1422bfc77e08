/// The query of `POST /v1/instances/{id}/exec/attach`: what to run and how.
///
/// On the wire: `command` once per argument (in order), `env=KEY=VALUE` once
/// per variable, `cwd`, `tty=1` for a terminal and, with it, `cols` and `rows`
/// (both or neither; default 80x24). Any other name is refused.
public struct ExecAttachQuery: Sendable, Equatable {
    public var command: [String]
    public var env: [String: String]
    public var cwd: String?
    /// The command's terminal and its initial size; nil: no terminal (pipes).
    public var terminal: TerminalSizeDTO?

    public static let defaultTerminal = TerminalSizeDTO(cols: 80, rows: 24)

    public init(command: [String], env: [String: String] = [:], cwd: String? = nil, terminal: TerminalSizeDTO? = nil) {
        self.command = command
        self.env = env
        self.cwd = cwd
        self.terminal = terminal
    }

    /// The query items, in a stable order.
    public var items: [(String, String)] {
        var items = command.map { ("command", $0) }
        items += env.sorted { $0.key < $1.key }.map { ("env", "\($0.key)=\($0.value)") }
        if let cwd { items.append(("cwd", cwd)) }
        if let terminal {
            items += [("tty", "1"), ("cols", String(terminal.cols)), ("rows", String(terminal.rows))]
        }
        return items
    }

    /// Parses decoded query items strictly.
    ///
    /// - Throws: `WireQueryError` naming the field: an unknown name, no
    ///   `command`, an `env` without `=`, a repeated single-valued field, `tty`
    ///   other than `0`/`1`, `cols`/`rows` outside 1...65535 or without `tty=1`.
    public init(items: [(String, String)]) throws(WireQueryError) {
        var command: [String] = []
        var env: [String: String] = [:]
        var single: [String: String] = [:]
        for (name, value) in items {
            switch name {
            case "command":
                command.append(value)
            case "env":
                guard let equals = value.firstIndex(of: "="), equals != value.startIndex else {
                    throw WireQueryError(name: "env", reason: "'\(value)' is not KEY=VALUE")
                }
                env[String(value[..<equals])] = String(value[value.index(after: equals)...])
            case "cwd", "tty", "cols", "rows":
                guard single[name] == nil else { throw WireQueryError(name: name, reason: "given more than once") }
                single[name] = value
            default:
                throw WireQueryError(name: name, reason: "unknown query parameter")
            }
        }
        guard !command.isEmpty else {
            throw WireQueryError(name: "command", reason: "required: one 'command' item per argument")
        }
        let tty: Bool
        switch single["tty"] {
        case nil, "0", "false": tty = false
        case "1", "true": tty = true
        case let other?: throw WireQueryError(name: "tty", reason: "'\(other)' is not 0 or 1")
        }
        var terminal: TerminalSizeDTO?
        if tty {
            terminal = Self.defaultTerminal
            if single["cols"] != nil || single["rows"] != nil {
                terminal = TerminalSizeDTO(
                    cols: try Self.dimension(single["cols"], name: "cols"), rows: try Self.dimension(single["rows"], name: "rows"))
            }
        } else if single["cols"] != nil || single["rows"] != nil {
            throw WireQueryError(name: single["cols"] != nil ? "cols" : "rows", reason: "only allowed with tty=1")
        }
        self.init(command: command, env: env, cwd: single["cwd"], terminal: terminal)
    }

    private static func dimension(_ text: String?, name: String) throws(WireQueryError) -> UInt16 {
        guard let text else { throw WireQueryError(name: name, reason: "required with the other dimension") }
        guard let value = UInt16(text), value > 0 else {
            throw WireQueryError(name: name, reason: "'\(text)' is not a number from 1 to 65535")
        }
        return value
    }
}
