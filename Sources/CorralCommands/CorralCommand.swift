import ArgumentParser
import CorralClient
import Foundation

/// The `corral` command line: the root command and its subcommands.
///
/// `runMain()` runs it with Corral's exit codes (see `CorralExitCode`) and prints
/// errors to standard error as `corral: <message>`.
public struct CorralCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "corral",
        abstract: "Run and manage instances on a Corral daemon.",
        discussion: """
            The daemon is reached at --host, $CORRAL_HOST, or the default socket \
            ($CORRAL_STATE_DIR/corrald.sock; /var/lib/corral/corrald.sock for root; \
            ~/.local/share/corral/corrald.sock otherwise). A bearer token is read from \
            $CORRAL_TOKEN or --token-file.

            Exit codes: 0 ok, 1 server-side failure, 2 usage error, 3 not found, \
            4 conflict or invalid state, 5 daemon unreachable, 6 timeout. 'corral exec' \
            exits with the command's own code once the command has run.
            """,
        version: CorralVersion.client,
        subcommands: [
            RunCommand.self, CreateCommand.self, PsCommand.self, InspectCommand.self,
            StartCommand.self, StopCommand.self, SuspendCommand.self, RmCommand.self,
            LogsCommand.self, WaitCommand.self, ExecCommand.self, CpCommand.self,
            PullCommand.self, ImportCommand.self, ImagesCommand.self, ImageCommand.self,
            DoctorCommand.self, VersionCommand.self,
        ]
    )

    /// Accepted before the subcommand name too (`corral --host ... ps`).
    @OptionGroup var global: GlobalOptions

    public init() {}

    /// Parses the process arguments, runs the chosen command and exits the
    /// process with its exit code.
    public static func runMain() async -> Never {
        await runMain(Array(CommandLine.arguments.dropFirst()))
    }

    /// Parses `arguments`, runs the chosen command and exits the process with its exit code.
    public static func runMain(_ arguments: [String]) async -> Never {
        let status: Int32
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            status = CorralExitCode.success.rawValue
        } catch let passed as PassedExitStatus {
            status = passed.status
        } catch {
            status = report(error).rawValue
        }
        Foundation.exit(status)
    }

    /// Prints `error` the way the CLI reports it and returns the exit code it stands for.
    static func report(_ error: any Error) -> CorralExitCode {
        if let failure = error as? CommandFailure {
            if let message = failure.message { Console.error(message) }
            return failure.code
        }
        if let clientError = error as? CorralClientError {
            Console.error(clientError.message)
            return CorralExitCode(clientError)
        }
        if let exit = error as? ExitCode {
            return exit.rawValue == 0 ? .success : .failure
        }
        let parserCode = exitCode(for: error)
        if parserCode == .success {
            exit(withError: error)
        }
        if parserCode == .validationFailure {
            Console.error(message(for: error))
            Console.stderr("Run 'corral --help' for usage.\n")
            return .usage
        }
        Console.error(message(for: error))
        return .failure
    }
}

/// Version strings of this client.
public enum CorralVersion {
    public static let client = "0.1.0"
}
