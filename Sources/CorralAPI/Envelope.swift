/// The response envelope of every `/v1` endpoint:
/// `{status, message, data, errors, op_time_us}`.
///
/// A batch answers per item inside `data`; an item that failed carries its own
/// `status`, `message` and `error`, and the envelope says `partial_success`
/// when some items succeeded and `error` when none did.
public struct Envelope<Payload: Codable & Sendable>: Codable, Sendable {
    public var status: ResponseStatus
    public var message: String?
    public var data: Payload?
    public var errors: [ResponseError]?
    public var opTimeUs: Int?

    public init(
        status: ResponseStatus, message: String? = nil, data: Payload? = nil,
        errors: [ResponseError]? = nil, opTimeUs: Int? = nil
    ) {
        self.status = status
        self.message = message
        self.data = data
        self.errors = errors
        self.opTimeUs = opTimeUs
    }

    enum CodingKeys: String, CodingKey {
        case status, message, data, errors
        case opTimeUs = "op_time_us"
    }
}

extension Envelope: Equatable where Payload: Equatable {}

/// The outcome of a request or of one item of a batch.
public enum ResponseStatus: String, WireEnum {
    case success
    case error
    case partialSuccess = "partial_success"
}

/// One entry of an envelope's `errors` list.
public struct ResponseError: Codable, Sendable, Equatable {
    /// The HTTP status code that describes this error.
    public var status: Int
    public var message: String?
    /// The API's numeric error code, when it has one (see `ItemErrorCode`).
    public var error: Int?

    public init(status: Int, message: String? = nil, error: Int? = nil) {
        self.status = status
        self.message = message
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case status, message, error
    }
}

/// The numeric `error` codes of failed items that clients interpret, as the
/// official SDK reads them.
public enum ItemErrorCode {
    /// The referenced resource does not exist.
    public static let notFound = 8
    /// A resource of that name already exists.
    public static let alreadyExists = 23
}

/// The `data` of instance endpoints: `{"instances": [...]}`.
public struct InstancesData<Item: Codable & Sendable>: Codable, Sendable {
    public var instances: [Item]?

    public init(instances: [Item]?) {
        self.instances = instances
    }

    enum CodingKeys: String, CodingKey {
        case instances
    }
}

extension InstancesData: Equatable where Item: Equatable {}

/// The `data` of `GET /v1/drivers`: `{"drivers": [...]}`.
public struct DriversData: Codable, Sendable, Equatable {
    public var drivers: [DriverInfoDTO]?

    public init(drivers: [DriverInfoDTO]?) {
        self.drivers = drivers
    }

    enum CodingKeys: String, CodingKey {
        case drivers
    }
}
