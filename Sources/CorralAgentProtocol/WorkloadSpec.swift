/// What `corral-agent init` starts as the guest's workload, written by the host.
///
/// It reaches the agent inside `GuestConfig` (the `configure` message). The
/// kernel command line forms, inline as `corral.spec=<hex of encoded()>` or as a
/// file named by `corral.config=<path>` (default `WorkloadSpec.defaultPath`), are
/// parsed here but not read by the agent.
public struct WorkloadSpec: Equatable, Sendable {
    public static let defaultPath = "/etc/corral/workload.spec"

    /// The command; `argv[0]` without a `/` is looked up in the `PATH` of `environment`.
    public var argv: [String]
    /// `KEY=value` entries laid over the agent's default environment.
    public var environment: [String]
    public var workingDirectory: String?

    public init(argv: [String], environment: [String] = [], workingDirectory: String? = nil) {
        self.argv = argv
        self.environment = environment
        self.workingDirectory = workingDirectory
    }

    /// Where a kernel command line says the spec is.
    public enum Source: Equatable, Sendable {
        case inline(WorkloadSpec)
        case file(String)
    }

    /// Reads `corral.spec=` or `corral.config=` from a kernel command line; with
    /// neither, the default file. A later parameter wins, as with the kernel's own.
    public static func source(kernelCommandLine: String) throws(AgentProtocolError) -> Source {
        var source = Source.file(defaultPath)
        for word in kernelCommandLine.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }) {
            if word.hasPrefix("corral.spec=") {
                source = .inline(try decode(hex: word.dropFirst("corral.spec=".count)))
            } else if word.hasPrefix("corral.config=") {
                source = .file(String(word.dropFirst("corral.config=".count)))
            }
        }
        return source
    }

    /// The spec as payload fields (see `AgentPayloadWriter`).
    public func encoded() -> [UInt8] {
        var writer = AgentPayloadWriter()
        writer.strings(AgentMessage.Tag.argv, argv)
        writer.strings(AgentMessage.Tag.env, environment)
        if let workingDirectory { writer.string(AgentMessage.Tag.cwd, workingDirectory) }
        return writer.bytes
    }

    /// `encoded()` as lowercase hex, for `corral.spec=`.
    public func kernelParameter() -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in encoded() {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return "corral.spec=" + String(decoding: text, as: UTF8.self)
    }

    public init(encoded: [UInt8]) throws(AgentProtocolError) {
        let fields = try AgentPayloadReader(encoded, context: "workload spec")
        argv = try fields.strings(AgentMessage.Tag.argv, "argv")
        guard !argv.isEmpty else { throw .malformedPayload("workload spec: argv is empty") }
        environment = try fields.strings(AgentMessage.Tag.env, "env")
        workingDirectory = try fields.optionalString(AgentMessage.Tag.cwd, "cwd")
    }

    private static func decode(hex: Substring) throws(AgentProtocolError) -> WorkloadSpec {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { throw .malformedPayload("corral.spec: odd number of hex digits") }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else {
                throw .malformedPayload("corral.spec: not a hex string")
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return try WorkloadSpec(encoded: bytes)
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
