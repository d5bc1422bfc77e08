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
        usage: "corral exec [-e KEY=VALUE]... [-w DIR] [-i] [--timeout SECONDS] NAME -- COMMAND [ARG...]",
        discussion: """
            The daemon answers once the command has ended: its standard output and \
            standard error are then printed here as they are, byte for byte, and corral \
            exits with the command's exit code (255 for a code outside 0-255). When the \
            command could not be run, corral prints 'corral: <reason>' and exits with \
            one of its own codes instead (see 'corral --help').

            There is no interactive terminal yet: -t is refused, and with -i the whole \
            of standard input is read before the command starts.

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

    @Flag(name: [.short, .long], help: "Read this standard input to its end and give it to the command.")
    var interactive = false

    @Flag(name: [.short, .long], help: "Not available yet: commands run without a terminal.")
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
        if tty {
            throw ValidationError(
                "-t/--tty is not available yet: exec runs commands without a terminal; use -i to give a command standard input")
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
}
