import CorralAPI

/// A failed call to `corrald`: the daemon could not be reached, it refused
/// the request, a wait ran out of time, or its answer made no sense.
public struct CorralClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The daemon did not answer: no socket, connection refused, reset.
        case unreachable
        /// The request or a server-side wait ran out of time.
        case timeout
        /// The daemon answered with an error (see `status`).
        case server
        /// The daemon's answer could not be decoded.
        case invalidResponse
        /// The endpoint given to the client is not one it can use.
        case invalidEndpoint
        /// The request cannot be sent as asked: it does not encode, or its body
        /// is larger than `CorralClient.maxRequestBytes`.
        case invalidRequest
        /// The calling task was cancelled before the answer arrived.
        case cancelled
    }

    public var kind: Kind
    /// The HTTP status that describes the failure: the response's, or for a
    /// failed item in a 200 answer the one its error code stands for.
    public var status: Int?
    /// The server's message, or what went wrong on the client's side.
    public var message: String
    /// The envelope's `errors`.
    public var errors: [ResponseError]
    /// The items of a batch answer that failed.
    public var failedItems: [ItemFailure]

    public init(
        kind: Kind, status: Int? = nil, message: String, errors: [ResponseError] = [], failedItems: [ItemFailure] = []
    ) {
        self.kind = kind
        self.status = status
        self.message = message
        self.errors = errors
        self.failedItems = failedItems
    }

    public var description: String { message }

    /// Whether the server said the resource does not exist.
    public var isNotFound: Bool { status == 404 }

    /// One failed item of a batch answer.
    public struct ItemFailure: Sendable, Equatable {
        public var uuid: String?
        public var name: String?
        public var message: String?
        /// The API's numeric error code (see `ItemErrorCode`).
        public var error: Int?

        public init(uuid: String? = nil, name: String? = nil, message: String? = nil, error: Int? = nil) {
            self.uuid = uuid
            self.name = name
            self.message = message
            self.error = error
        }

        public init(_ item: some BatchItemResult) {
            self.init(uuid: item.uuid, name: item.name, message: item.message, error: item.error)
        }
    }
}
