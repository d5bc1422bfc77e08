/// Body of `PUT /v1/instances/{id}/start`.
public struct StartInstanceRequestBody: Codable, Sendable, Equatable, StrictDecodable {
    /// Deprecated by the wire in favour of `timeoutS`.
    public var waitTimeoutMs: Int?
    /// Seconds to wait for the instance to be running before answering; no wait when absent or 0.
    public var timeoutS: Int?

    public init(waitTimeoutMs: Int? = nil, timeoutS: Int? = nil) {
        self.waitTimeoutMs = waitTimeoutMs
        self.timeoutS = timeoutS
    }

    enum CodingKeys: String, CodingKey {
        case waitTimeoutMs = "wait_timeout_ms"
        case timeoutS = "timeout_s"
    }

    public static let schema: WireSchema = .object(["wait_timeout_ms": .integer, "timeout_s": .integer])
}

/// One item of `PUT /v1/instances/start`.
public struct StartInstancesRequestItem: Codable, Sendable, Equatable, StrictDecodable {
    public var uuid: String?
    public var name: String?
    public var waitTimeoutMs: Int?
    public var timeoutS: Int?

    public init(uuid: String? = nil, name: String? = nil, waitTimeoutMs: Int? = nil, timeoutS: Int? = nil) {
        self.uuid = uuid
        self.name = name
        self.waitTimeoutMs = waitTimeoutMs
        self.timeoutS = timeoutS
    }

    public init(_ reference: NameOrUUID, body: StartInstanceRequestBody = StartInstanceRequestBody()) {
        self.init(uuid: reference.uuid, name: reference.name, waitTimeoutMs: body.waitTimeoutMs, timeoutS: body.timeoutS)
    }

    public var reference: NameOrUUID { NameOrUUID(uuid: uuid, name: name) }
    public var body: StartInstanceRequestBody { StartInstanceRequestBody(waitTimeoutMs: waitTimeoutMs, timeoutS: timeoutS) }

    enum CodingKeys: String, CodingKey {
        case uuid, name
        case waitTimeoutMs = "wait_timeout_ms"
        case timeoutS = "timeout_s"
    }

    public static let schema: WireSchema = .object([
        "uuid": .string, "name": .string, "wait_timeout_ms": .integer, "timeout_s": .integer,
    ])
}

/// Body of `PUT /v1/instances/{id}/stop`.
public struct StopInstanceRequestBody: Codable, Sendable, Equatable, StrictDecodable {
    /// Kill at once instead of asking the workload to shut down.
    public var force: Bool?
    /// How long to drain connections before stopping, in milliseconds.
    public var drainTimeoutMs: Int?
    public var quick: Bool?
    /// Stop only when the instance is in this state.
    public var ifstate: String?
    public var dump: Bool?

    public init(force: Bool? = nil, drainTimeoutMs: Int? = nil, quick: Bool? = nil, ifstate: String? = nil, dump: Bool? = nil) {
        self.force = force
        self.drainTimeoutMs = drainTimeoutMs
        self.quick = quick
        self.ifstate = ifstate
        self.dump = dump
    }

    enum CodingKeys: String, CodingKey {
        case force
        case drainTimeoutMs = "drain_timeout_ms"
        case quick, ifstate, dump
    }

    public static let schema: WireSchema = .object([
        "force": .boolean, "drain_timeout_ms": .integer, "quick": .boolean, "ifstate": .string, "dump": .boolean,
    ])
}

/// One item of `PUT /v1/instances/stop`.
public struct StopInstancesRequestItem: Codable, Sendable, Equatable, StrictDecodable {
    public var uuid: String?
    public var name: String?
    public var force: Bool?
    public var drainTimeoutMs: Int?
    public var quick: Bool?
    public var ifstate: String?
    public var dump: Bool?

    public init(
        uuid: String? = nil, name: String? = nil, force: Bool? = nil, drainTimeoutMs: Int? = nil,
        quick: Bool? = nil, ifstate: String? = nil, dump: Bool? = nil
    ) {
        self.uuid = uuid
        self.name = name
        self.force = force
        self.drainTimeoutMs = drainTimeoutMs
        self.quick = quick
        self.ifstate = ifstate
        self.dump = dump
    }

    public init(_ reference: NameOrUUID, body: StopInstanceRequestBody = StopInstanceRequestBody()) {
        self.init(
            uuid: reference.uuid, name: reference.name, force: body.force, drainTimeoutMs: body.drainTimeoutMs,
            quick: body.quick, ifstate: body.ifstate, dump: body.dump)
    }

    public var reference: NameOrUUID { NameOrUUID(uuid: uuid, name: name) }
    public var body: StopInstanceRequestBody {
        StopInstanceRequestBody(force: force, drainTimeoutMs: drainTimeoutMs, quick: quick, ifstate: ifstate, dump: dump)
    }

    enum CodingKeys: String, CodingKey {
        case uuid, name, force
        case drainTimeoutMs = "drain_timeout_ms"
        case quick, ifstate, dump
    }

    public static let schema: WireSchema = .object([
        "uuid": .string, "name": .string, "force": .boolean, "drain_timeout_ms": .integer,
        "quick": .boolean, "ifstate": .string, "dump": .boolean,
    ])
}

/// Body of `PUT /v1/instances/{id}/suspend`.
public struct SuspendInstanceRequestBody: Codable, Sendable, Equatable, StrictDecodable {
    public var drainTimeoutMs: Int?

    public init(drainTimeoutMs: Int? = nil) {
        self.drainTimeoutMs = drainTimeoutMs
    }

    enum CodingKeys: String, CodingKey {
        case drainTimeoutMs = "drain_timeout_ms"
    }

    public static let schema: WireSchema = .object(["drain_timeout_ms": .integer])
}

/// One item of `PUT /v1/instances/suspend`.
public struct SuspendInstancesRequestItem: Codable, Sendable, Equatable, StrictDecodable {
    public var uuid: String?
    public var name: String?
    public var drainTimeoutMs: Int?

    public init(uuid: String? = nil, name: String? = nil, drainTimeoutMs: Int? = nil) {
        self.uuid = uuid
        self.name = name
        self.drainTimeoutMs = drainTimeoutMs
    }

    public init(_ reference: NameOrUUID, body: SuspendInstanceRequestBody = SuspendInstanceRequestBody()) {
        self.init(uuid: reference.uuid, name: reference.name, drainTimeoutMs: body.drainTimeoutMs)
    }

    public var reference: NameOrUUID { NameOrUUID(uuid: uuid, name: name) }
    public var body: SuspendInstanceRequestBody { SuspendInstanceRequestBody(drainTimeoutMs: drainTimeoutMs) }

    enum CodingKeys: String, CodingKey {
        case uuid, name
        case drainTimeoutMs = "drain_timeout_ms"
    }

    public static let schema: WireSchema = .object(["uuid": .string, "name": .string, "drain_timeout_ms": .integer])
}

/// Body of `DELETE /v1/instances/{id}`.
public struct DeleteInstanceRequestBody: Codable, Sendable, Equatable, StrictDecodable {
    public var timeoutS: Int?
    public var dontRetain: Bool?

    public init(timeoutS: Int? = nil, dontRetain: Bool? = nil) {
        self.timeoutS = timeoutS
        self.dontRetain = dontRetain
    }

    enum CodingKeys: String, CodingKey {
        case timeoutS = "timeout_s"
        case dontRetain = "dont_retain"
    }

    public static let schema: WireSchema = .object(["timeout_s": .integer, "dont_retain": .boolean])
}

/// One item of `DELETE /v1/instances`.
public struct DeleteInstancesRequestItem: Codable, Sendable, Equatable, StrictDecodable {
    public var uuid: String?
    public var name: String?
    public var timeoutS: Int?
    public var dontRetain: Bool?

    public init(uuid: String? = nil, name: String? = nil, timeoutS: Int? = nil, dontRetain: Bool? = nil) {
        self.uuid = uuid
        self.name = name
        self.timeoutS = timeoutS
        self.dontRetain = dontRetain
    }

    public init(_ reference: NameOrUUID, body: DeleteInstanceRequestBody = DeleteInstanceRequestBody()) {
        self.init(uuid: reference.uuid, name: reference.name, timeoutS: body.timeoutS, dontRetain: body.dontRetain)
    }

    public var reference: NameOrUUID { NameOrUUID(uuid: uuid, name: name) }
    public var body: DeleteInstanceRequestBody { DeleteInstanceRequestBody(timeoutS: timeoutS, dontRetain: dontRetain) }

    enum CodingKeys: String, CodingKey {
        case uuid, name
        case timeoutS = "timeout_s"
        case dontRetain = "dont_retain"
    }

    public static let schema: WireSchema = .object([
        "uuid": .string, "name": .string, "timeout_s": .integer, "dont_retain": .boolean,
    ])
}

/// Body of `GET /v1/instances/{id}/wait`.
///
/// The wire requires `state`; a timeout of neither field means the server's default.
public struct WaitInstanceRequestBody: Codable, Sendable, Equatable, StrictDecodable {
    public var state: WireInstanceState
    public var timeoutMs: Int?
    public var timeoutS: Int?

    public init(state: WireInstanceState, timeoutMs: Int? = nil, timeoutS: Int? = nil) {
        self.state = state
        self.timeoutMs = timeoutMs
        self.timeoutS = timeoutS
    }

    enum CodingKeys: String, CodingKey {
        case state
        case timeoutMs = "timeout_ms"
        case timeoutS = "timeout_s"
    }

    public static let schema: WireSchema = .object([
        "state": WireInstanceState.schema, "timeout_ms": .integer, "timeout_s": .integer,
    ])
}

/// One item of `GET /v1/instances/wait`; `state` is optional here on the wire.
public struct WaitInstancesRequestItem: Codable, Sendable, Equatable, StrictDecodable {
    public var uuid: String?
    public var name: String?
    public var state: WireInstanceState?
    public var timeoutMs: Int?
    public var timeoutS: Int?

    public init(uuid: String? = nil, name: String? = nil, state: WireInstanceState? = nil, timeoutMs: Int? = nil, timeoutS: Int? = nil) {
        self.uuid = uuid
        self.name = name
        self.state = state
        self.timeoutMs = timeoutMs
        self.timeoutS = timeoutS
    }

    public init(_ reference: NameOrUUID, body: WaitInstanceRequestBody) {
        self.init(uuid: reference.uuid, name: reference.name, state: body.state, timeoutMs: body.timeoutMs, timeoutS: body.timeoutS)
    }

    public var reference: NameOrUUID { NameOrUUID(uuid: uuid, name: name) }

    enum CodingKeys: String, CodingKey {
        case uuid, name, state
        case timeoutMs = "timeout_ms"
        case timeoutS = "timeout_s"
    }

    public static let schema: WireSchema = .object([
        "uuid": .string, "name": .string, "state": WireInstanceState.schema,
        "timeout_ms": .integer, "timeout_s": .integer,
    ])
}

/// Body of `GET /v1/instances/{id}/log`: a byte range of the console log.
///
/// A negative `offset` counts from the end of the log.
public struct InstanceLogsRequestBody: Codable, Sendable, Equatable, StrictDecodable {
    public var offset: Int?
    public var limit: Int?

    public init(offset: Int? = nil, limit: Int? = nil) {
        self.offset = offset
        self.limit = limit
    }

    enum CodingKeys: String, CodingKey {
        case offset, limit
    }

    public static let schema: WireSchema = .object(["offset": .integer, "limit": .integer])
}

/// One item of `GET /v1/instances/log`.
public struct InstanceLogsRequestItem: Codable, Sendable, Equatable, StrictDecodable {
    public var uuid: String?
    public var name: String?
    public var offset: Int?
    public var limit: Int?

    public init(uuid: String? = nil, name: String? = nil, offset: Int? = nil, limit: Int? = nil) {
        self.uuid = uuid
        self.name = name
        self.offset = offset
        self.limit = limit
    }

    public init(_ reference: NameOrUUID, body: InstanceLogsRequestBody = InstanceLogsRequestBody()) {
        self.init(uuid: reference.uuid, name: reference.name, offset: body.offset, limit: body.limit)
    }

    public var reference: NameOrUUID { NameOrUUID(uuid: uuid, name: name) }
    public var body: InstanceLogsRequestBody { InstanceLogsRequestBody(offset: offset, limit: limit) }

    enum CodingKeys: String, CodingKey {
        case uuid, name, offset, limit
    }

    public static let schema: WireSchema = .object([
        "uuid": .string, "name": .string, "offset": .integer, "limit": .integer,
    ])
}

/// Body of `PATCH /v1/instances/{id}`: one change to one property.
public struct UpdateInstanceRequestBody: Codable, Sendable, Equatable, StrictDecodable {
    /// A caller-chosen id echoed in the answer.
    public var id: String?
    public var prop: WireInstanceProperty
    public var op: WireUpdateOperation
    public var value: JSONValue?

    public init(id: String? = nil, prop: WireInstanceProperty, op: WireUpdateOperation, value: JSONValue? = nil) {
        self.id = id
        self.prop = prop
        self.op = op
        self.value = value
    }

    enum CodingKeys: String, CodingKey {
        case id, prop, op, value
    }

    public static let schema: WireSchema = .object([
        "id": .string, "prop": WireInstanceProperty.schema, "op": WireUpdateOperation.schema, "value": .any,
    ])
}

/// One item of `PATCH /v1/instances`.
public struct UpdateInstancesRequestItem: Codable, Sendable, Equatable, StrictDecodable {
    public var uuid: String?
    public var name: String?
    public var id: String?
    public var prop: WireInstanceProperty
    public var op: WireUpdateOperation
    public var value: JSONValue?

    public init(uuid: String? = nil, name: String? = nil, id: String? = nil, prop: WireInstanceProperty, op: WireUpdateOperation, value: JSONValue? = nil) {
        self.uuid = uuid
        self.name = name
        self.id = id
        self.prop = prop
        self.op = op
        self.value = value
    }

    public init(_ reference: NameOrUUID, body: UpdateInstanceRequestBody) {
        self.init(uuid: reference.uuid, name: reference.name, id: body.id, prop: body.prop, op: body.op, value: body.value)
    }

    public var reference: NameOrUUID { NameOrUUID(uuid: uuid, name: name) }
    public var body: UpdateInstanceRequestBody { UpdateInstanceRequestBody(id: id, prop: prop, op: op, value: value) }

    enum CodingKeys: String, CodingKey {
        case uuid, name, id, prop, op, value
    }

    public static let schema: WireSchema = .object([
        "uuid": .string, "name": .string, "id": .string,
        "prop": WireInstanceProperty.schema, "op": WireUpdateOperation.schema, "value": .any,
    ])
}
