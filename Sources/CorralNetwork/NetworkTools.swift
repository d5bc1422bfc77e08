import CorralCore
import Foundation

/// One network interface as `ip -details -json address show` reports it.
struct LinkRecord: Decodable, Sendable, Equatable {
    struct LinkInfo: Decodable, Sendable, Equatable {
        let infoKind: String?
    }

    struct AddressRecord: Decodable, Sendable, Equatable {
        let family: String?
        let local: String?
        let prefixlen: Int?
    }

    let ifname: String
    let flags: [String]?
    let master: String?
    let address: String?
    let ifalias: String?
    let linkinfo: LinkInfo?
    let addrInfo: [AddressRecord]?

    var isUp: Bool { flags?.contains("UP") ?? false }
    var kind: String? { linkinfo?.infoKind }

    func hasIPv4(_ address: IPv4Address, prefixLength: Int) -> Bool {
        (addrInfo ?? []).contains { $0.family == "inet" && $0.local == address.description && $0.prefixlen == prefixLength }
    }
}

/// One route as `ip -json route show` reports it.
struct RouteRecord: Decodable, Sendable, Equatable {
    let dst: String?
    let gateway: String?
    let dev: String?
}

/// `ip` (iproute2) and `nft` (nftables), run as subprocesses on the calling thread.
///
/// Blocking: for `NamespaceWorker` jobs only. Commands act in the calling thread's
/// network namespace unless a `namespace` (a name under `/run/netns`) is given.
struct NetworkTools: Sendable {
    static let namespaceDirectory = "/run/netns"

    let timeout: Duration

    /// Runs `ip` with `arguments` and fails, saying it failed to `action`, unless it succeeds.
    @discardableResult
    func ip(_ arguments: [String], namespace: String? = nil, action: String) throws(CorralError) -> CommandOutput {
        let prefix = namespace.map { ["-n", $0] } ?? []
        let output = try Subprocess.run("ip", prefix + arguments, timeout: timeout)
        guard output.succeeded else { throw Self.failure(action, output) }
        return output
    }

    /// Runs several `ip` commands in one process with JSON output, stopping at the
    /// first that fails, and returns what each `show` command printed, decoded in
    /// order: a batch can act and then read the result back in one process.
    func ipBatchReadingBack(_ commands: [String], namespace: String? = nil, action: String) throws(CorralError) -> [String] {
        let prefix = namespace.map { ["-n", $0] } ?? []
        let script = commands.joined(separator: "\n") + "\n"
        let output = try Subprocess.run("ip", prefix + ["-details", "-json", "-batch", "-"], input: script, timeout: timeout)
        guard output.succeeded else { throw Self.failure(action, output) }
        return output.standardOutput.split(separator: "\n").map(String.init).filter {
            !$0.trimmingCharacters(in: .whitespaces).isEmpty
        }
    }

    static func decodeLinks(_ text: String) throws(CorralError) -> [LinkRecord] {
        try decode([LinkRecord].self, text, what: "interfaces")
    }

    static func decodeRoutes(_ text: String) throws(CorralError) -> [RouteRecord] {
        try decode([RouteRecord].self, text, what: "routes")
    }

    /// The interface `name` with its addresses, or nil when it does not exist.
    func link(_ name: String, namespace: String? = nil) throws(CorralError) -> LinkRecord? {
        let prefix = namespace.map { ["-n", $0] } ?? []
        let output = try Subprocess.run("ip", prefix + ["-details", "-json", "address", "show", "dev", name], timeout: timeout)
        guard output.succeeded else {
            if output.standardError.contains("does not exist") { return nil }
            throw Self.failure("inspect interface \(name)", output)
        }
        return try Self.decode([LinkRecord].self, output.standardOutput, what: "interface \(name)").first
    }

    /// Every interface (of `kind`, such as `veth`, when given) with its addresses.
    func links(kind: String? = nil, namespace: String? = nil) throws(CorralError) -> [LinkRecord] {
        let prefix = namespace.map { ["-n", $0] } ?? []
        let filter = kind.map { ["type", $0] } ?? []
        let output = try Subprocess.run("ip", prefix + ["-details", "-json", "address", "show"] + filter, timeout: timeout)
        guard output.succeeded else { throw Self.failure("list interfaces", output) }
        return try Self.decode([LinkRecord].self, output.standardOutput, what: "interfaces")
    }

    func defaultRoutes(namespace: String? = nil) throws(CorralError) -> [RouteRecord] {
        let prefix = namespace.map { ["-n", $0] } ?? []
        let output = try Subprocess.run("ip", prefix + ["-json", "route", "show", "default"], timeout: timeout)
        guard output.succeeded else { throw Self.failure("list routes", output) }
        return try Self.decode([RouteRecord].self, output.standardOutput, what: "routes")
    }

    /// Runs `nft` with `arguments` (and `input` as its stdin).
    func nft(_ arguments: [String], input: String? = nil) throws(CorralError) -> CommandOutput {
        try Subprocess.run("nft", arguments, input: input, timeout: timeout)
    }

    static func namespacePath(_ name: String) -> String { "\(namespaceDirectory)/\(name)" }

    static func failure(_ action: String, _ output: CommandOutput) -> CorralError {
        let reason = output.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
        return .internal("failed to \(action): \(reason.isEmpty ? "exit status \(output.status)" : reason)")
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ text: String, what: String) throws(CorralError) -> T {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        // Older iproute2 prints nothing rather than `[]` when nothing matches.
        let data = Data((trimmed.isEmpty ? "[]" : trimmed).utf8)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(type, from: data)
        } catch {
            throw .internal("failed to read \(what) from ip", cause: error)
        }
    }
}
