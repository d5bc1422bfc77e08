import AsyncHTTPClient
import CorralAPI
import Foundation

extension CorralClient {
    enum Method: String {
        case GET, POST, PUT, PATCH, DELETE
    }

    /// The envelope of a response with any status, paired with that status.
    struct Answer<Payload: Codable & Sendable> {
        var httpStatus: Int
        var envelope: Envelope<Payload>
    }

    static func instancePath(_ id: String, _ action: String? = nil) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove("/")
        let escaped = id.addingPercentEncoding(withAllowedCharacters: allowed) ?? id
        return "/v1/instances/" + escaped + (action.map { "/" + $0 } ?? "")
    }

    static func query(_ items: [(String, String)]) -> String {
        guard !items.isEmpty else { return "" }
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        return "?"
            + items.map { key, value in
                key + "=" + (value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)
            }.joined(separator: "&")
    }

    static func waitDuration(timeoutS: Int?, timeoutMs: Int?) -> Duration {
        if let timeoutS { return .seconds(timeoutS) }
        if let timeoutMs { return .milliseconds(timeoutMs) }
        return .seconds(24 * 3600)
    }

    /// The URL of `path` (with its query) at this client's endpoint.
    func url(_ path: String, query: [(String, String)] = []) throws(CorralClientError) -> String {
        let uri = path + Self.query(query)
        switch endpoint {
        case .url(let base):
            return base + uri
        case .unixSocket(let socketPath):
            guard let url = URL(httpURLWithSocketPath: socketPath, uri: uri) else {
                throw CorralClientError(kind: .invalidEndpoint, message: "invalid socket path '\(socketPath)'")
            }
            return url.absoluteString
        }
    }

    /// The request as it goes on the wire: method, URL, headers and JSON body.
    func makeRequest(
        _ method: Method, _ path: String, query: [(String, String)] = [], body: (some Encodable)?
    ) throws(CorralClientError) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: try url(path, query: query))
        switch method {
        case .GET: request.method = .GET
        case .POST: request.method = .POST
        case .PUT: request.method = .PUT
        case .PATCH: request.method = .PATCH
        case .DELETE: request.method = .DELETE
        }
        request.headers.add(name: "Accept", value: "application/json")
        if let token {
            request.headers.add(name: "Authorization", value: "Bearer " + token)
        }
        if let body {
            let data: Data
            do {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.withoutEscapingSlashes]
                data = try encoder.encode(body)
            } catch {
                throw CorralClientError(kind: .invalidRequest, message: "cannot encode request: \(error)")
            }
            guard data.count <= maxRequestBytes else {
                throw CorralClientError(
                    kind: .invalidRequest,
                    message: "failed to send request: its body is \(data.count) bytes, more than the \(maxRequestBytes) corrald accepts")
            }
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(data)
        }
        return request
    }

    func send<Payload: Codable & Sendable>(
        _ method: Method, _ path: String, query: [(String, String)] = [], timeout: Duration? = nil
    ) async throws(CorralClientError) -> Envelope<Payload> {
        try await send(method, path, query: query, body: Optional<JSONValue>.none, timeout: timeout)
    }

    func send<Payload: Codable & Sendable>(
        _ method: Method, _ path: String, query: [(String, String)] = [], body: (some Encodable)?,
        timeout: Duration? = nil
    ) async throws(CorralClientError) -> Envelope<Payload> {
        let answer: Answer<Payload> = try await exchange(method, path, query: query, body: body, timeout: timeout)
        if answer.httpStatus >= 400 || answer.envelope.status == .error {
            return try Self.adoptStatus(answer)
        }
        return answer.envelope
    }

    /// Keeps a failing answer's envelope, recording the HTTP status in the
    /// envelope's errors when the server did not, so later checks see it.
    static func adoptStatus<Payload>(_ answer: Answer<Payload>) throws(CorralClientError) -> Envelope<Payload> {
        var envelope = answer.envelope
        envelope.status = .error
        if answer.httpStatus >= 400, !(envelope.errors ?? []).contains(where: { $0.status == answer.httpStatus }) {
            envelope.errors = [ResponseError(status: answer.httpStatus, message: envelope.message)]
                + (envelope.errors ?? [])
        }
        return envelope
    }

    func exchange<Payload: Codable & Sendable>(
        _ method: Method, _ path: String, query: [(String, String)], body: (some Encodable)?, timeout: Duration?
    ) async throws(CorralClientError) -> Answer<Payload> {
        let request = try makeRequest(method, path, query: query, body: body)
        let deadline = timeout ?? requestTimeout
        let status: Int
        var bytes = Data()
        do {
            let response = try await httpClient.execute(request, timeout: .nanoseconds(Self.nanoseconds(deadline)))
            status = Int(response.status.code)
            let buffer = try await response.body.collect(upTo: maxResponseBytes)
            bytes.append(contentsOf: buffer.readableBytesView)
        } catch {
            throw transportError(error, deadline: deadline)
        }
        return try Self.decodeAnswer(status: status, bytes: bytes)
    }

    /// What a failed exchange with the daemon means for the caller.
    func transportError(_ error: any Error, deadline: Duration) -> CorralClientError {
        switch error {
        case let error as CorralClientError:
            return error
        case let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout:
            return CorralClientError(kind: .timeout, message: "request to corrald timed out after \(deadline)")
        case let error as HTTPClientError where error == .connectTimeout:
            return CorralClientError(kind: .unreachable, message: "cannot reach corrald at \(endpoint): connect timed out")
        case is CancellationError:
            return CorralClientError(kind: .cancelled, message: "request to corrald cancelled")
        default:
            return CorralClientError(
                kind: .unreachable, message: "cannot reach corrald at \(endpoint): \(Self.describeConnectionFailure(error))")
        }
    }

    /// Decodes a response body of any status as an envelope.
    static func decodeAnswer<Payload: Codable & Sendable>(status: Int, bytes: Data) throws(CorralClientError)
        -> Answer<Payload>
    {
        do {
            return Answer(httpStatus: status, envelope: try JSONDecoder().decode(Envelope<Payload>.self, from: bytes))
        } catch {
            if status >= 400 {
                let text = String(decoding: bytes.prefix(512), as: UTF8.self).trimmingWhitespace()
                throw CorralClientError(
                    kind: status == 504 ? .timeout : .server, status: status,
                    message: text.isEmpty ? "corrald answered HTTP \(status)" : text)
            }
            throw CorralClientError(
                kind: .invalidResponse, status: status, message: "cannot decode corrald's answer: \(error)")
        }
    }

    /// A short reason for a failed connection: the system error's text when
    /// there is one (NIO reports `... (errno: N)`), else the error itself.
    static func describeConnectionFailure(_ error: any Error) -> String {
        let text = String(describing: error)
        guard let marker = text.range(of: "errno: ", options: .backwards) else { return text }
        let digits = text[marker.upperBound...].prefix(while: \.isNumber)
        guard let code = Int32(digits) else { return text }
        switch code {
        case ENOENT: return "no such socket (is corrald running?)"
        case ECONNREFUSED: return "connection refused (is corrald running?)"
        case EACCES: return "permission denied"
        default: return String(cString: strerror(code))
        }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (product, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return Int64.max }
        return product.addingReportingOverflow(attoseconds / 1_000_000_000).overflow
            ? Int64.max : product + attoseconds / 1_000_000_000
    }
}
