import ArgumentParser
import CorralAPI
import CorralClient
import Foundation

/// `corral exec`: run a command in a running instance and pass on its output
/// and exit code.
struct ExecCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command in a running instance.",
        usage: "corral exec [-e KEY=VALUE]... [-w DIR] [-i] [-t] [--timeout SECONDS] NAME -- COMMAND [ARG...]",
        discussion: """
            Without -i and -t the daemon answers once the command has ended: its \
            standard output and standard error are then printed here as they are, byte \
            for byte, and corral exits with the command's exit code (255 for a code \
            outside 0-255). When the command could not be run, corral prints \
            'corral: <reason>' and exits with one of its own codes instead (see \
            'corral --help').

            With -i, standard input is streamed to the command as it is typed or \
            piped, and its output comes back as it is written. With -t the command \
            gets a terminal (standard input must be one: this terminal is put in raw \
            mode while the command runs and its size follows). -it runs a shell: \
            corral exec -it web -- sh. Without a terminal, the first Ctrl-C is passed \
            on to the command and a second one ends corral. --timeout and --json do \
            not apply to -i and -t. A driver without interactive exec runs -i \
            commands the buffered way: the whole of standard input first.

            Example:
              echo hello | corral exec -i -e GREETING=hi web -- sh -c 'cat; echo $GREETING'
            """)

    @OptionGroup var global: GlobalOptions

    @Option(
        name: [.short, .long],
        help: ArgumentHelp("An environment variable; KEY alone copies it from this environment. Repeatable.", valueName: "KEY=VALUE"))
    var env: [String] = []

    @Option(name: [.short, .long], help: ArgumentHelp("The working directory inside the instance (absolute).", valueName: "dir"))
    var workdir: String?

    @Flag(name: [.short, .long], help: "Stream this standard input to the command.")
    var interactive = false

    @Flag(name: [.short, .long], help: "Give the command a terminal (standard input must be one).")
    var tty = false

    @Option(
        name: .long,
        help: ArgumentHelp("Seconds the command may run (default: the daemon's, 60; at most 3600).", valueName: "seconds"))
    var timeout: Int?

    @Argument(help: ArgumentHelp("The instance name or UUID.", valueName: "name"))
    var instance: String

    // Not `.captureForPassthrough`: a command that captures for passthrough
    // stops the root command's parse at its name, and options it shares with
    // the root (`-o`, `--host`) are then refused after the name.
    @Argument(
        parsing: .remaining,
        help: ArgumentHelp("The command and its arguments, after '--' (needed once an argument starts with '-').", valueName: "command"))
    var command: [String] = []

    func validate() throws {
        if tty && !LocalTerminal.standardInputIsTerminal {
            throw ValidationError("the input device is not a TTY: -t needs standard input to be a terminal (use -i alone to pipe input)")
        }
        if tty || interactive {
            if timeout != nil { throw ValidationError("--timeout applies to exec without -i or -t") }
            if global.json { throw ValidationError("--json applies to exec without -i or -t") }
        }
        if command.isEmpty { throw ValidationError("no command: corral exec NAME -- COMMAND [ARG...]") }
        if let workdir, !workdir.hasPrefix("/") {
            throw ValidationError("invalid --workdir '\(workdir)': must be an absolute path inside the instance")
        }
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be a positive number of seconds") }
        _ = try InstanceOptions.environment(env)
    }

    func run() async throws {
        let client = try global.makeClient()
        if tty || interactive {
            if let code = try await runAttached(client) {
                if code != 0 { throw PassedExitStatus(exitCode: Int(code)) }
                return
            }
        }
        let input = interactive ? try await StandardInput.readAll(limit: client.maxRequestBytes / 4 * 3) : nil
        let environment = try InstanceOptions.environment(env)
        let request = ExecRequestDTO(
            command: command, env: environment.isEmpty ? nil : environment, cwd: workdir,
            stdin: input?.base64EncodedString(), timeoutS: timeout)
        let result = try await client.exec(instance, request)
        if global.json {
            try Output.json(result)
        } else {
            guard let stdout = Data(base64Encoded: result.stdout), let stderr = Data(base64Encoded: result.stderr) else {
                throw CommandFailure(.failure, "failed to print the command's output: corrald sent invalid base64")
            }
            if !stdout.isEmpty { Console.stdout(stdout) }
            if !stderr.isEmpty { Console.stderr(stderr) }
        }
        if result.exitCode != 0 {
            throw PassedExitStatus(exitCode: result.exitCode)
        }
    }

    /// Runs the command over an interactive stream; nil when the instance's
    /// driver has none and `-i` alone may fall back to the buffered exec.
    private func runAttached(_ client: CorralClient) async throws -> Int32? {
        let size = tty ? LocalTerminal.size().map { TerminalSizeDTO(cols: $0.columns, rows: $0.rows) } ?? ExecAttachQuery.defaultTerminal : nil
        let query = ExecAttachQuery(command: command, env: try InstanceOptions.environment(env), cwd: workdir, terminal: size)
        do {
            return try await InteractiveExec(client: client, instance: instance, query: query, forwardInput: interactive).run()
        } catch let error as CorralClientError where error.status == 501 && !tty {
            return nil
        }
    }
}
