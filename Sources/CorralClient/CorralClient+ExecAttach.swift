import AsyncHTTPClient
import CorralAPI
import NIOCore

extension CorralClient {
    /// `POST /v1/instances/{id}/exec/attach` (Corral): starts `query.command` in
    /// a running instance, with a terminal when `query.terminal` is set, and
    /// returns once corrald has started it, with the open stream.
    ///
    /// Send `stdin`, `stdinClose`, `resize` and `signal` frames with
    /// `ExecAttachment.send`; read the command's frames from
    /// `ExecAttachment.frames` until `exit` or `error`; then `finish()` (also on
    /// every early way out: until then the command keeps running).
    ///
    /// - Throws: `CorralClientError` with status 400 for a bad query (naming the
    ///   parameter), 404 for an unknown instance, 409 when it is not running,
    ///   501 when its driver has no interactive exec.
    public func attachExec(_ id: String, _ query: ExecAttachQuery) async throws -> ExecAttachment {
        var request = try makeRequest(.POST, Self.instancePath(id, "exec/attach"), query: query.items, body: Optional<JSONValue>.none)
        let (input, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        request.headers.add(name: "Content-Type", value: "application/vnd.corral.exec-stream")
        request.body = .stream(input, length: .unknown)
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(request, timeout: .nanoseconds(Self.nanoseconds(requestTimeout)))
        } catch {
            continuation.finish()
            throw transportError(error, deadline: requestTimeout)
        }
        guard response.status.code == 200 else {
            continuation.finish()
            let status = Int(response.status.code)
            var bytes: [UInt8] = []
            do {
                let buffer = try await response.body.collect(upTo: 1 << 20)
                bytes = Array(buffer.readableBytesView)
            } catch {
                throw transportError(error, deadline: requestTimeout)
            }
            let answer: Answer<JSONValue> = try Self.decodeAnswer(status: status, bytes: .init(bytes))
            try Self.throwIfFailed(try Self.adoptStatus(answer), failedItems: [])
            throw CorralClientError(kind: .invalidResponse, status: status, message: "corrald answered HTTP \(status) to exec attach")
        }
        return ExecAttachment(input: continuation, body: response.body)
    }
}

/// An open interactive exec stream (see `CorralClient.attachExec`).
public struct ExecAttachment: Sendable {
    private let input: AsyncStream<ByteBuffer>.Continuation
    /// The command's frames as they arrive: `stdout`, `stderr`, then `exit` or
    /// `error`. Iterate it once.
    public let frames: Frames

    init(input: AsyncStream<ByteBuffer>.Continuation, body: HTTPClientResponse.Body) {
        self.input = input
        self.frames = Frames(body: body)
    }

    /// Queues a frame for corrald; returns at once. Byte payloads above
    /// `ExecFrame.maximumPayload` must be split (`ExecFrame.frames(stdin:)`).
    public func send(_ frame: ExecFrame) {
        input.yield(ByteBuffer(bytes: frame.encoded()))
    }

    /// Ends the request body: corrald then ends the command if it still runs.
    /// Idempotent.
    public func finish() {
        input.finish()
    }

    /// The response body decoded into frames.
    public struct Frames: AsyncSequence, Sendable {
        public typealias Element = ExecFrame
        let body: HTTPClientResponse.Body

        public func makeAsyncIterator() -> Iterator {
            Iterator(body: body.makeAsyncIterator())
        }

        public struct Iterator: AsyncIteratorProtocol {
            var body: HTTPClientResponse.Body.AsyncIterator
            var decoder = ExecFrameDecoder()
            var ended = false

            /// - Throws: `CorralClientError` (`.invalidResponse`) for a malformed
            ///   stream or one that ends without `exit` or `error`,
            ///   `.unreachable` when the connection breaks.
            public mutating func next() async throws -> ExecFrame? {
                while true {
                    if ended { return nil }
                    do {
                        if let frame = try decoder.next() {
                            switch frame {
                            case .exit, .error: ended = true
                            default: break
                            }
                            return frame
                        }
                    } catch {
                        ended = true
                        throw CorralClientError(kind: .invalidResponse, message: "corrald sent an invalid exec stream: \(error)")
                    }
                    let buffer: ByteBuffer?
                    do {
                        buffer = try await body.next()
                    } catch {
                        ended = true
                        throw CorralClientError(kind: .unreachable, message: "lost the connection to corrald: \(error)")
                    }
                    guard let buffer else {
                        ended = true
                        throw CorralClientError(kind: .invalidResponse, message: "corrald ended the exec stream without an exit code")
                    }
                    decoder.append(buffer.readableBytesView)
                }
            }
        }
    }
}
