/// Everything host and agent say to each other.
///
/// Requests (host → agent) and their replies: `configure` → `ok`, `exec` →
/// `execResult`, `readFile` → `fileData`, `writeFile` → `ok`, `metricsRequest` →
/// `metrics`, `shutdown` → `ok`; any request may instead be answered by `error`. The agent sends `ready` (request
/// id 0) and `workloadExited` (a non-zero request id the host acknowledges with `ok`)
/// on its own.
///
/// Interactive sessions: `sessionStart` → `ok` once the command runs; then
/// `sessionInput` → `ok` once its bytes were written to the command (so the host
/// sends input only as fast as the command takes it); `sessionCloseInput`,
/// `sessionResize`, `sessionSignal`, `sessionClose` and `sessionWindow` → `ok`.
/// The agent sends `sessionOutput` and, last, `sessionExited` on its own under
/// request id `AgentSession.eventRequestID`, unacknowledged. It sends output only
/// within the window: `AgentSession.initialWindow` bytes, plus what the host
/// grants with `sessionWindow` as it consumes output.
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
    case sessionStart(SessionStartRequest)
    /// Bytes for the session's input (its terminal, with one).
    case sessionInput(session: UInt32, bytes: [UInt8])
    /// End of input: the pipe is closed, or the terminal gets its end-of-file character.
    case sessionCloseInput(session: UInt32)
    case sessionResize(session: UInt32, size: SessionTerminalSize)
    case sessionSignal(session: UInt32, signal: Int32)
    /// Kill the session's command (its process group) and forget the session.
    case sessionClose(session: UInt32)
    /// The host took `bytes` more of the session's output: the agent may send as much more.
    case sessionWindow(session: UInt32, bytes: UInt32)
    /// Output of the session's command: `stream` 1 (stdout, or the terminal) or 2 (stderr).
    case sessionOutput(session: UInt32, stream: UInt8, bytes: [UInt8])
    /// The session's command ended with `code` (the shell status); its output was
    /// sent before. The session's last message.
    case sessionExited(session: UInt32, code: Int32)

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
        case .sessionStart: .sessionStart
        case .sessionInput: .sessionInput
        case .sessionCloseInput: .sessionCloseInput
        case .sessionResize: .sessionResize
        case .sessionSignal: .sessionSignal
        case .sessionClose: .sessionClose
        case .sessionWindow: .sessionWindow
        case .sessionOutput: .sessionOutput
        case .sessionExited: .sessionExited
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
        case .sessionStart:
            self = .sessionStart(try SessionStartRequest(fields: fields))
        case .sessionInput:
            self = .sessionInput(session: try Self.session(fields), bytes: fields.optionalBytes(Tag.data) ?? [])
        case .sessionCloseInput:
            self = .sessionCloseInput(session: try Self.session(fields))
        case .sessionResize:
            self = .sessionResize(session: try Self.session(fields), size: try SessionTerminalSize(fields: fields))
        case .sessionSignal:
            self = .sessionSignal(session: try Self.session(fields), signal: try fields.fitting(Int32.self, Tag.signal, "signal"))
        case .sessionClose:
            self = .sessionClose(session: try Self.session(fields))
        case .sessionWindow:
            self = .sessionWindow(session: try Self.session(fields), bytes: try fields.fitting(UInt32.self, Tag.windowBytes, "window"))
        case .sessionOutput:
            let stream = try fields.fitting(UInt8.self, Tag.stream, "stream")
            guard stream == 1 || stream == 2 else { throw .malformedPayload("sessionOutput: stream \(stream) is not 1 or 2") }
            self = .sessionOutput(session: try Self.session(fields), stream: stream, bytes: fields.optionalBytes(Tag.data) ?? [])
        case .sessionExited:
            self = .sessionExited(session: try Self.session(fields), code: try fields.fitting(Int32.self, Tag.exitCode, "exitCode"))
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
        case .sessionStart(let request):
            request.write(to: &writer)
        case .sessionInput(let session, let bytes):
            writer.int(Tag.session, Int64(session))
            writer.bytes(Tag.data, bytes)
        case .sessionCloseInput(let session), .sessionClose(let session):
            writer.int(Tag.session, Int64(session))
        case .sessionResize(let session, let size):
            writer.int(Tag.session, Int64(session))
            size.write(to: &writer)
        case .sessionSignal(let session, let signal):
            writer.int(Tag.session, Int64(session))
            writer.int(Tag.signal, Int64(signal))
        case .sessionWindow(let session, let bytes):
            writer.int(Tag.session, Int64(session))
            writer.int(Tag.windowBytes, Int64(bytes))
        case .sessionOutput(let session, let stream, let bytes):
            writer.int(Tag.session, Int64(session))
            writer.int(Tag.stream, Int64(stream))
            writer.bytes(Tag.data, bytes)
        case .sessionExited(let session, let code):
            writer.int(Tag.session, Int64(session))
            writer.int(Tag.exitCode, Int64(code))
        }
        return writer.bytes
    }

    private static func write(_ termination: ProcessTermination, to writer: inout AgentPayloadWriter) {
        switch termination {
        case .exited(let code): writer.int(Tag.exitCode, Int64(code))
        case .signaled(let signal): writer.int(Tag.signal, Int64(signal))
        }
    }

    private static func session(_ fields: AgentPayloadReader) throws(AgentProtocolError) -> UInt32 {
        try fields.fitting(UInt32.self, Tag.session, "session")
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
        static let session: UInt8 = 42
        static let columns: UInt8 = 43
        static let rows: UInt8 = 44
        static let stream: UInt8 = 45
        static let windowBytes: UInt8 = 46
    }
}
