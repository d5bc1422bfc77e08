import CorralAPI
import CorralCore
import Hummingbird

extension ExecRoutes {
    /// `POST /v1/instances/{id}/exec/attach?command=…[&tty=1&cols=&rows=]`:
    /// starts a command and streams it both ways over this one exchange.
    ///
    /// Everything that can fail before the command starts is an ordinary error
    /// answer (400 bad query naming the parameter, 404, 409 not running, 501
    /// driver without interactive exec). Then: 200 at once, the request body
    /// carries the client's `ExecFrame`s (stdin, stdin-close, resize, signal) and
    /// the response body the command's (stdout, stderr, then exit or error). The
    /// client keeps its body open until it has read the last frame; when its
    /// body ends or breaks first, the client is gone and the command is killed.
    func attach(_ request: Request, id: String) async throws -> Response {
        let query: ExecAttachQuery
        do {
            query = try ExecAttachQuery(items: request.uri.queryParameters.map { (String($0.key), String($0.value)) })
        } catch {
            throw CorralError.invalidArgument(error.description)
        }
        let session = try await engine.startExecSession(id, InteractiveExecRequest(
            command: query.command, env: query.env, workingDirectory: query.cwd,
            terminal: query.terminal.map { TerminalSize(columns: $0.cols, rows: $0.rows) }
        ))
        let body = request.body
        let owner = ExecSessionOwner(session)
        return Response(
            status: .ok,
            headers: [.contentType: ExecRoutes.attachContentType, .cacheControl: "no-store"],
            body: ResponseBody { writer in
                defer { owner.session.close() }
                try await ExecStreamBridge(session: owner.session).run(input: body, output: &writer)
            }
        )
    }

    /// The media type of an exec stream body, both ways.
    static let attachContentType = "application/vnd.corral.exec-stream"
}

/// Joins an exec session to one HTTP exchange: frames from the request body go
/// to the session, the session's events become frames in the response body.
struct ExecStreamBridge: Sendable {
    let session: any ExecSession
    /// How long the client's body may stay open after the last frame.
    static let inputGrace: Duration = .seconds(5)

    /// Returns once the last frame was written or the client went away; the
    /// caller closes the session.
    func run(input: RequestBody, output writer: inout any ResponseBodyWriter) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [session] in
                await Self.pumpInput(input, to: session)
            }
            while let event = await session.nextEvent() {
                let frame: ExecFrame = switch event {
                case .stdout(let bytes): .stdout(bytes)
                case .stderr(let bytes): .stderr(bytes)
                case .exited(let code): .exit(code)
                case .failed(let error): .error(error.description)
                }
                try await writer.write(ByteBuffer(bytes: frame.encoded()))
                if case .exit = frame { break }
                if case .error = frame { break }
            }
            try await writer.finish(nil)
            // The client ends its body once it has read the last frame. Cancelling
            // the read of that body before then can close the connection under the
            // last frames, so it is given a grace period first.
            group.addTask { try? await Task.sleep(for: Self.inputGrace) }
            _ = try await group.next()
            group.cancelAll()
        }
    }

    /// Feeds the client's frames to the session until its body ends, breaks or
    /// turns invalid, then closes the session: the client is gone.
    static func pumpInput(_ input: RequestBody, to session: any ExecSession) async {
        defer { session.close() }
        var decoder = ExecFrameDecoder()
        do {
            for try await buffer in input {
                decoder.append(buffer.readableBytesView)
                while let frame = try decoder.next() {
                    switch frame {
                    case .stdin(let bytes):
                        // Input after the command closed it or ended is dropped: the
                        // exit frame, not this, tells the client.
                        try? await session.writeInput(bytes)
                    case .stdinClose:
                        session.closeInput()
                    case .resize(let size):
                        try? session.resize(TerminalSize(columns: size.cols, rows: size.rows))
                    case .signal(let number):
                        try? session.signal(number)
                    case .stdout, .stderr, .exit, .error:
                        return
                    }
                }
            }
        } catch {
            return
        }
    }
}

/// Closes its session when released: also when the response is dropped
/// without its body ever being written (the client left before the head).
final class ExecSessionOwner: Sendable {
    let session: any ExecSession

    init(_ session: any ExecSession) {
        self.session = session
    }

    deinit {
        session.close()
    }
}
