import AsyncHTTPClient
import CorralAPI
import Foundation

/// An async client of the `corrald` REST API (`/v1`, wire-compatible with
/// Unikraft Cloud), over a unix socket or HTTP(S).
///
/// Every method throws `CorralClientError` and nothing else. Methods on one
/// instance (`startInstance`) throw when that instance's item failed. Batch
/// methods (`startInstances`) return every item, failed ones included (see
/// `BatchItemResult.failed`), and throw only when the request as a whole
/// failed.
public struct CorralClient: Sendable {
    public let endpoint: CorralEndpoint
    let token: String?
    let httpClient: HTTPClient
    /// The deadline of a request that does not wait server-side.
    public var requestTimeout: Duration
    /// The largest response body accepted.
    public var maxResponseBytes: Int = 64 << 20
    /// The largest request body sent: corrald reads at most 4 MiB of one, so
    /// a larger one fails here, before it is sent.
    public var maxRequestBytes: Int = 4 << 20

    /// - Parameters:
    ///   - endpoint: where the daemon listens.
    ///   - token: sent as `Authorization: Bearer <token>` when not `nil`.
    ///   - httpClient: the connection pool; by default a process-wide one that
    ///     needs no shutdown and fails at once when the daemon is not listening.
    ///   - requestTimeout: the deadline of calls that do not wait server-side.
    public init(
        endpoint: CorralEndpoint, token: String? = nil, httpClient: HTTPClient = CorralClient.defaultHTTPClient,
        requestTimeout: Duration = .seconds(60)
    ) {
        self.endpoint = endpoint
        self.token = token
        self.httpClient = httpClient
        self.requestTimeout = requestTimeout
    }

    /// A connection pool that reports an unreachable daemon at once, instead of
    /// retrying the connection until the request's deadline as AsyncHTTPClient's
    /// shared pool does.
    public static let defaultHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: .seconds(5))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    // MARK: instances

    /// `POST /v1/instances`: creates an instance (and its replicas).
    ///
    /// With `autostart` and `timeoutS`, the server answers once the instances
    /// run or the wait lapses; the request deadline is stretched to outlast it.
    /// - Returns: the created instances, the first one being the named one.
    public func createInstance(_ request: CreateInstanceRequest) async throws -> [InstanceDTO] {
        let wait = Duration.seconds(request.timeoutS ?? 0) + .milliseconds(request.waitTimeoutMs ?? 0)
        let envelope: Envelope<InstancesData<InstanceDTO>> = try await send(
            .POST, "/v1/instances", body: request, timeout: requestTimeout + wait)
        return try Self.allSucceeded(envelope)
    }

    /// `GET /v1/instances`: every instance, with all fields when `details`.
    public func listInstances(details: Bool = true) async throws -> [InstanceDTO] {
        let envelope: Envelope<InstancesData<InstanceDTO>> = try await send(
            .GET, "/v1/instances", query: details ? [("details", "true")] : [])
        return try Self.allSucceeded(envelope)
    }

    /// `GET /v1/instances/{name-or-uuid}`.
    public func getInstance(_ id: String) async throws -> InstanceDTO {
        let envelope: Envelope<InstancesData<InstanceDTO>> = try await send(.GET, Self.instancePath(id))
        return try Self.single(envelope)
    }

    /// `DELETE /v1/instances/{id}`.
    public func deleteInstance(
        _ id: String, _ body: DeleteInstanceRequestBody? = nil
    ) async throws -> InstanceStateChangeDTO {
        let envelope: Envelope<InstancesData<InstanceStateChangeDTO>> = try await send(
            .DELETE, Self.instancePath(id), body: body)
        return try Self.single(envelope)
    }

    /// `DELETE /v1/instances` with one item per instance.
    public func deleteInstances(_ items: [DeleteInstancesRequestItem]) async throws -> [InstanceStateChangeDTO] {
        let envelope: Envelope<InstancesData<InstanceStateChangeDTO>> = try await send(
            .DELETE, "/v1/instances", body: items)
        return try Self.items(envelope)
    }

    /// `PUT /v1/instances/{id}/start`; with `timeoutS`, answers once running
    /// or when the wait lapses.
    public func startInstance(_ id: String, _ body: StartInstanceRequestBody = .init()) async throws
        -> InstanceStateChangeDTO
    {
        let envelope: Envelope<InstancesData<InstanceStateChangeDTO>> = try await send(
            .PUT, Self.instancePath(id, "start"), body: body,
            timeout: requestTimeout + .seconds(body.timeoutS ?? 0) + .milliseconds(body.waitTimeoutMs ?? 0))
        return try Self.single(envelope)
    }

    /// `PUT /v1/instances/start` with one item per instance.
    public func startInstances(_ items: [StartInstancesRequestItem]) async throws -> [InstanceStateChangeDTO] {
        let wait = items.map { Duration.seconds($0.timeoutS ?? 0) + .milliseconds($0.waitTimeoutMs ?? 0) }.max() ?? .zero
        let envelope: Envelope<InstancesData<InstanceStateChangeDTO>> = try await send(
            .PUT, "/v1/instances/start", body: items, timeout: requestTimeout + wait)
        return try Self.items(envelope)
    }

    /// `PUT /v1/instances/{id}/stop`. The answer comes once the stop began;
    /// wait for `stopped` to know it finished.
    public func stopInstance(_ id: String, _ body: StopInstanceRequestBody = .init()) async throws
        -> InstanceStateChangeDTO
    {
        let envelope: Envelope<InstancesData<InstanceStateChangeDTO>> = try await send(
            .PUT, Self.instancePath(id, "stop"), body: body,
            timeout: requestTimeout + .milliseconds(body.drainTimeoutMs ?? 0))
        return try Self.single(envelope)
    }

    /// `PUT /v1/instances/stop` with one item per instance.
    public func stopInstances(_ items: [StopInstancesRequestItem]) async throws -> [InstanceStateChangeDTO] {
        let drain = items.map { Duration.milliseconds($0.drainTimeoutMs ?? 0) }.max() ?? .zero
        let envelope: Envelope<InstancesData<InstanceStateChangeDTO>> = try await send(
            .PUT, "/v1/instances/stop", body: items, timeout: requestTimeout + drain)
        return try Self.items(envelope)
    }

    /// `PUT /v1/instances/{id}/suspend`.
    public func suspendInstance(_ id: String, _ body: SuspendInstanceRequestBody = .init()) async throws
        -> InstanceStateChangeDTO
    {
        let envelope: Envelope<InstancesData<InstanceStateChangeDTO>> = try await send(
            .PUT, Self.instancePath(id, "suspend"), body: body,
            timeout: requestTimeout + .milliseconds(body.drainTimeoutMs ?? 0))
        return try Self.single(envelope)
    }

    /// `PUT /v1/instances/suspend` with one item per instance.
    public func suspendInstances(_ items: [SuspendInstancesRequestItem]) async throws -> [InstanceStateChangeDTO] {
        let envelope: Envelope<InstancesData<InstanceStateChangeDTO>> = try await send(
            .PUT, "/v1/instances/suspend", body: items)
        return try Self.items(envelope)
    }

    /// `GET /v1/instances/{id}/wait` (a GET with a JSON body): answers once
    /// the instance is in `body.state`.
    ///
    /// - Throws: `CorralClientError` of kind `.timeout` when the server's
    ///   wait lapsed first.
    public func waitInstance(_ id: String, _ body: WaitInstanceRequestBody) async throws -> WaitedInstanceDTO {
        let envelope: Envelope<InstancesData<WaitedInstanceDTO>> = try await send(
            .GET, Self.instancePath(id, "wait"), body: body,
            timeout: requestTimeout + Self.waitDuration(timeoutS: body.timeoutS, timeoutMs: body.timeoutMs))
        return try Self.single(envelope)
    }

    /// `GET /v1/instances/wait` with one item per instance.
    public func waitInstances(_ items: [WaitInstancesRequestItem]) async throws -> [WaitedInstanceDTO] {
        let wait = items.map { Self.waitDuration(timeoutS: $0.timeoutS, timeoutMs: $0.timeoutMs) }.max() ?? .zero
        let envelope: Envelope<InstancesData<WaitedInstanceDTO>> = try await send(
            .GET, "/v1/instances/wait", body: items, timeout: requestTimeout + wait)
        return try Self.items(envelope)
    }

    /// `GET /v1/instances/{id}/log` (a GET with a JSON body): a byte range of
    /// the console log; `output` is base64 (see `InstanceLogsDTO.outputBytes`).
    public func instanceLogs(_ id: String, _ body: InstanceLogsRequestBody = .init()) async throws -> InstanceLogsDTO {
        let envelope: Envelope<InstancesData<InstanceLogsDTO>> = try await send(
            .GET, Self.instancePath(id, "log"), body: body)
        return try Self.single(envelope)
    }

    /// `GET /v1/instances/log` with one item per instance.
    public func instancesLogs(_ items: [InstanceLogsRequestItem]) async throws -> [InstanceLogsDTO] {
        let envelope: Envelope<InstancesData<InstanceLogsDTO>> = try await send(
            .GET, "/v1/instances/log", body: items)
        return try Self.items(envelope)
    }

    /// `GET /v1/instances/{id}/metrics`.
    public func instanceMetrics(_ id: String) async throws -> InstanceMetricsDTO {
        let envelope: Envelope<InstancesData<InstanceMetricsDTO>> = try await send(
            .GET, Self.instancePath(id, "metrics"))
        return try Self.single(envelope)
    }

    /// `GET /v1/instances/metrics`: the listed instances, or all when empty.
    public func instancesMetrics(_ references: [NameOrUUID] = []) async throws -> [InstanceMetricsDTO] {
        let query = references.compactMap { reference -> (String, String)? in
            if let uuid = reference.uuid { return ("uuid", uuid) }
            if let name = reference.name { return ("name", name) }
            return nil
        }
        let envelope: Envelope<InstancesData<InstanceMetricsDTO>> = try await send(
            .GET, "/v1/instances/metrics", query: query)
        return try Self.items(envelope)
    }

    /// `PATCH /v1/instances/{id}`: one change to one property.
    public func updateInstance(_ id: String, _ body: UpdateInstanceRequestBody) async throws -> UpdatedInstanceDTO {
        let envelope: Envelope<InstancesData<UpdatedInstanceDTO>> = try await send(
            .PATCH, Self.instancePath(id), body: body)
        return try Self.single(envelope)
    }

    /// `PATCH /v1/instances` with one item per change.
    public func updateInstances(_ items: [UpdateInstancesRequestItem]) async throws -> [UpdatedInstanceDTO] {
        let envelope: Envelope<InstancesData<UpdatedInstanceDTO>> = try await send(
            .PATCH, "/v1/instances", body: items)
        return try Self.items(envelope)
    }

    // MARK: node

    /// `GET /v1/healthz`.
    public func healthz() async throws -> HealthzDTO {
        let envelope: Envelope<HealthzDTO> = try await send(.GET, "/v1/healthz")
        try Self.throwIfFailed(envelope, failedItems: [])
        guard let data = envelope.data else {
            throw CorralClientError(kind: .invalidResponse, message: "healthz answer carries no data")
        }
        return data
    }

    /// `GET /v1/drivers` (Corral extension): every driver the daemon knows,
    /// available here or not.
    public func drivers() async throws -> [DriverInfoDTO] {
        let envelope: Envelope<DriversData> = try await send(.GET, "/v1/drivers")
        try Self.throwIfFailed(envelope, failedItems: [])
        return envelope.data?.drivers ?? []
    }
}
