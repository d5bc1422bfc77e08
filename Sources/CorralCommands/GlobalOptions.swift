import ArgumentParser
import CorralClient
import Foundation

/// How results are printed.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table
    case json
}

/// Options every subcommand accepts: where the daemon is, how to authenticate, how to print.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The daemon: unix:///path/to.sock, http://host:port, or a socket path (default: $CORRAL_HOST, then the default socket).",
            valueName: "address"))
    var host: String?

    @Option(name: .long, help: ArgumentHelp("A file holding the bearer token (default: $CORRAL_TOKEN).", valueName: "path"))
    var tokenFile: String?

    @Option(name: [.short, .long], help: "Output format: table or json.")
    var output: OutputFormat = .table

    var json: Bool { output == .json }

    /// The endpoint from `--host`, `$CORRAL_HOST`, or the default socket.
    func endpoint(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> CorralEndpoint {
        if let host, !host.isEmpty { return try CorralEndpoint(parsing: host) }
        if let host = environment["CORRAL_HOST"], !host.isEmpty { return try CorralEndpoint(parsing: host) }
        return .unixSocket(path: Self.defaultSocketPath(environment: environment, uid: getuid()))
    }

    /// `$CORRAL_STATE_DIR/corrald.sock`; else `/var/lib/corral/corrald.sock`
    /// for root; else `$HOME/.local/share/corral/corrald.sock`.
    static func defaultSocketPath(environment: [String: String], uid: uid_t) -> String {
        if let state = environment["CORRAL_STATE_DIR"], !state.isEmpty {
            return (state as NSString).appendingPathComponent("corrald.sock")
        }
        if uid == 0 { return "/var/lib/corral/corrald.sock" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return (home as NSString).appendingPathComponent(".local/share/corral/corrald.sock")
    }

    /// The token from `--token-file`, else `$CORRAL_TOKEN`, else none.
    func token(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        if let tokenFile {
            let text: String
            do {
                text = try String(contentsOfFile: tokenFile, encoding: .utf8)
            } catch {
                throw CommandFailure(.usage, "cannot read token file '\(tokenFile)': \(error.localizedDescription)")
            }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw CommandFailure(.usage, "token file '\(tokenFile)' is empty") }
            return token
        }
        if let token = environment["CORRAL_TOKEN"], !token.isEmpty { return token }
        return nil
    }

    func makeClient() throws -> CorralClient {
        CorralClient(endpoint: try endpoint(), token: try token())
    }
}
