/// Everything host and agent say to each other.
///
/// Requests (host → agent) and their replies: `configure` → `ok`, `exec` →
/// `execResult`, `readFile` → `fileData`, `writeFile` → `ok`, `metricsRequest` →
/// `metrics`, `shutdown` → `ok`; any request may instead be answered by `error`. The agent sends `ready` (request
/// id 0) and `workloadExited` (a non-zero request id the host acknowledges with `ok`)
/// on its own.
public enum AgentMessage: Equatable, Sendable {
    case ready(AgentReady)
    case exec(ExecRequest)
    case execResult(ExecResult)
    case readFile(path: String)
    case fileData([UInt8])
    case writeFile(WriteFileRequest)
    case ok
    case metricsRequest
    case metrics(GuestMetrics)
    /// Stop the workload (SIGTERM, SIGKILL after `graceMilliseconds`), then power off.
    case shutdown(graceMilliseconds: UInt32)
    case workloadExited(ProcessTermination)
    case error(String)
    /// Mount the root disk, configure the guest and start the workload (`init` mode).
    case configure(GuestConfig)

    public var type: AgentMessageType {
        switch self {
        case .ready: .ready
        case .exec: .exec
        case .execResult: .execResult
        case .readFile: .readFile
        case .fileData: .fileData
        case .writeFile: .writeFile
        case .ok: .ok
        case .metricsRequest: .metricsRequest
        case .metrics: .metrics
        case .shutdown: .shutdown
        case .workloadExited: .workloadExited
        case .error: .error
        case .configure: .configure
        }
    }

    /// The message as a frame with `requestID`.
    public func frame(requestID: UInt32) -> AgentFrame {
        AgentFrame(type: type.rawValue, requestID: requestID, payload: payload())
    }

    /// The frame's bytes, ready to write.
    public func encoded(requestID: UInt32) -> [UInt8] {
        frame(requestID: requestID).encoded()
    }

    /// Decodes the message a frame carries.
    public init(frame: AgentFrame) throws(AgentProtocolError) {
        guard let type = AgentMessageType(rawValue: frame.type) else { throw .unknownMessageType(frame.type) }
        let fields = try AgentPayloadReader(frame.payload, context: "\(type)")
        switch type {
        case .ready:
            self = .ready(
                AgentReady(
                    agentVersion: try fields.string(Tag.version, "version"),
                    bootClockNanoseconds: try fields.uint(Tag.bootClock, "bootClock")))
        case .exec:
            let argv = try fields.strings(Tag.argv, "argv")
            guard !argv.isEmpty else { throw .malformedPayload("exec: argv is empty") }
            let timeout = try fields.has(Tag.timeout) ? fields.fitting(UInt32.self, Tag.timeout, "timeout") : nil
            self = .exec(
                ExecRequest(
                    argv: argv, environment: try fields.strings(Tag.env, "env"),
                    workingDirectory: try fields.optionalString(Tag.cwd, "cwd"),
                    stdin: fields.optionalBytes(Tag.stdin) ?? [], timeoutMilliseconds: timeout))
        case .execResult:
            self = .execResult(
                ExecResult(
                    termination: try Self.termination(fields), timedOut: try fields.bool(Tag.timedOut, "timedOut"),
                    stdout: fields.optionalBytes(Tag.stdout) ?? [], stderr: fields.optionalBytes(Tag.stderr) ?? [],
                    outputTruncated: try fields.bool(Tag.truncated, "truncated")))
        case .readFile:
            self = .readFile(path: try fields.string(Tag.path, "path"))
        case .fileData:
            self = .fileData(fields.optionalBytes(Tag.data) ?? [])
        case .writeFile:
            self = .writeFile(
                WriteFileRequest(
                    path: try fields.string(Tag.path, "path"), mode: try fields.fitting(UInt32.self, Tag.mode, "mode"),
                    contents: fields.optionalBytes(Tag.data) ?? []))
        case .ok:
            self = .ok
        case .metricsRequest:
            self = .metricsRequest
        case .metrics:
            self = .metrics(
                GuestMetrics(
                    memoryTotalKiB: try fields.uint(Tag.memTotal, "memTotal"),
                    memoryAvailableKiB: try fields.uint(Tag.memAvailable, "memAvailable"),
                    cpuUserTicks: try fields.uint(Tag.cpuUser, "cpuUser"),
                    cpuSystemTicks: try fields.uint(Tag.cpuSystem, "cpuSystem"),
                    cpuIdleTicks: try fields.uint(Tag.cpuIdle, "cpuIdle"),
                    ticksPerSecond: try fields.uint(Tag.ticks, "ticksPerSecond")))
        case .shutdown:
            self = .shutdown(graceMilliseconds: try fields.fitting(UInt32.self, Tag.grace, "grace"))
        case .workloadExited:
            self = .workloadExited(try Self.termination(fields))
        case .error:
            self = .error(try fields.string(Tag.message, "message"))
        case .configure:
            self = .configure(try GuestConfig(fields: fields))
        }
    }

    /// The payload's fields.
    public func payload() -> [UInt8] {
        var writer = AgentPayloadWriter()
        switch self {
        case .ready(let ready):
            writer.string(Tag.version, ready.agentVersion)
            writer.uint(Tag.bootClock, ready.bootClockNanoseconds)
        case .exec(let request):
            writer.strings(Tag.argv, request.argv)
            writer.strings(Tag.env, request.environment)
            if let cwd = request.workingDirectory { writer.string(Tag.cwd, cwd) }
            if !request.stdin.isEmpty { writer.bytes(Tag.stdin, request.stdin) }
            if let timeout = request.timeoutMilliseconds { writer.int(Tag.timeout, Int64(timeout)) }
        case .execResult(let result):
            Self.write(result.termination, to: &writer)
            if result.timedOut { writer.bool(Tag.timedOut, true) }
            writer.bytes(Tag.stdout, result.stdout)
            writer.bytes(Tag.stderr, result.stderr)
            if result.outputTruncated { writer.bool(Tag.truncated, true) }
        case .readFile(let path):
            writer.string(Tag.path, path)
        case .fileData(let data):
            writer.bytes(Tag.data, data)
        case .writeFile(let request):
            writer.string(Tag.path, request.path)
            writer.int(Tag.mode, Int64(request.mode))
            writer.bytes(Tag.data, request.contents)
        case .ok, .metricsRequest:
            break
        case .metrics(let metrics):
            writer.uint(Tag.memTotal, metrics.memoryTotalKiB)
            writer.uint(Tag.memAvailable, metrics.memoryAvailableKiB)
            writer.uint(Tag.cpuUser, metrics.cpuUserTicks)
            writer.uint(Tag.cpuSystem, metrics.cpuSystemTicks)
            writer.uint(Tag.cpuIdle, metrics.cpuIdleTicks)
            writer.uint(Tag.ticks, metrics.ticksPerSecond)
        case .shutdown(let grace):
            writer.int(Tag.grace, Int64(grace))
        case .workloadExited(let termination):
            Self.write(termination, to: &writer)
        case .error(let message):
            writer.string(Tag.message, message)
        case .configure(let config):
            config.write(to: &writer)
        }
        return writer.bytes
    }

    private static func write(_ termination: ProcessTermination, to writer: inout AgentPayloadWriter) {
        switch termination {
        case .exited(let code): writer.int(Tag.exitCode, Int64(code))
        case .signaled(let signal): writer.int(Tag.signal, Int64(signal))
        }
    }

    private static func termination(_ fields: AgentPayloadReader) throws(AgentProtocolError) -> ProcessTermination {
        if fields.has(Tag.exitCode) { return .exited(try fields.fitting(Int32.self, Tag.exitCode, "exitCode")) }
        if fields.has(Tag.signal) { return .signaled(try fields.fitting(Int32.self, Tag.signal, "signal")) }
        throw .malformedPayload("termination needs exitCode or signal")
    }

    /// Field tags. One namespace for all messages so a tag means the same thing everywhere.
    enum Tag {
        static let version: UInt8 = 1
        static let bootClock: UInt8 = 2
        static let argv: UInt8 = 3
        static let env: UInt8 = 4
        static let cwd: UInt8 = 5
        static let stdin: UInt8 = 6
        static let timeout: UInt8 = 7
        static let exitCode: UInt8 = 8
        static let signal: UInt8 = 9
        static let timedOut: UInt8 = 10
        static let stdout: UInt8 = 11
        static let stderr: UInt8 = 12
        static let truncated: UInt8 = 13
        static let path: UInt8 = 14
        static let data: UInt8 = 15
        static let mode: UInt8 = 16
        static let memTotal: UInt8 = 17
        static let memAvailable: UInt8 = 18
        static let cpuUser: UInt8 = 19
        static let cpuSystem: UInt8 = 20
        static let cpuIdle: UInt8 = 21
        static let ticks: UInt8 = 22
        static let grace: UInt8 = 23
        static let message: UInt8 = 24
        static let workload: UInt8 = 25
        static let uid: UInt8 = 26
        static let gid: UInt8 = 27
        static let group: UInt8 = 28
        static let hostname: UInt8 = 29
        static let rootDevice: UInt8 = 30
        static let fileSystem: UInt8 = 31
        static let network: UInt8 = 32
        static let volume: UInt8 = 33
        static let mac: UInt8 = 34
        static let address: UInt8 = 35
        static let prefixLength: UInt8 = 36
        static let gateway: UInt8 = 37
        static let nameserver: UInt8 = 38
        static let device: UInt8 = 39
        static let mountPoint: UInt8 = 40
        static let readOnly: UInt8 = 41
    }
}
