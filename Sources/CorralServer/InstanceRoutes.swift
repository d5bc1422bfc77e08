import CorralAPI
import CorralCore
import CorralEngine
import Foundation
import Hummingbird

/// The Unikraft Cloud v1 instance endpoints. Handlers parse strictly, call the
/// engine, and encode; no business logic lives here.
struct InstanceRoutes: Sendable {
    let engine: InstanceEngine
    let limits: InstanceLimits
    let defaultDriver: String

    /// Longest wait any request may ask for.
    static let maximumWait: Duration = .seconds(3600)
    static let defaultWait: Duration = .seconds(60)
    static let maximumBody = 4 << 20
    static let defaultLogLimit = 64 << 10
    static let maximumLogLimit = 4 << 20

    func register(on router: Router<BasicRequestContext>) {
        let v1 = router.group("v1")
        v1.post("instances") { request, _ in await APIResponse.handle { try await create(request) } }
        v1.get("instances") { request, _ in await APIResponse.handle { try await list(request) } }
        v1.delete("instances") { request, _ in await APIResponse.handle { try await batchDelete(request) } }
        v1.patch("instances") { request, _ in await APIResponse.handle { try await batchUpdate(request) } }
        v1.put("instances/start") { request, _ in await APIResponse.handle { try await batchStart(request) } }
        v1.put("instances/stop") { request, _ in await APIResponse.handle { try await batchStop(request) } }
        v1.put("instances/suspend") { request, _ in await APIResponse.handle { try await batchSuspend(request) } }
        v1.get("instances/wait") { request, _ in await APIResponse.handle { try await batchWait(request) } }
        v1.get("instances/log") { request, _ in await APIResponse.handle { try await batchLog(request) } }
        v1.get("instances/metrics") { request, _ in await APIResponse.handle { try await batchMetrics(request) } }

        v1.get("instances/:id") { request, context in
            await APIResponse.handle { try await getOne(request, id: try context.parameters.require("id")) }
        }
        v1.delete("instances/:id") { request, context in
            await APIResponse.handle { try await deleteOne(request, id: try context.parameters.require("id")) }
        }
        v1.patch("instances/:id") { request, context in
            await APIResponse.handle { try await updateOne(request, id: try context.parameters.require("id")) }
        }
        v1.put("instances/:id/start") { request, context in
            await APIResponse.handle { try await startOne(request, id: try context.parameters.require("id")) }
        }
        v1.put("instances/:id/stop") { request, context in
            await APIResponse.handle { try await stopOne(request, id: try context.parameters.require("id")) }
        }
        v1.put("instances/:id/suspend") { request, context in
            await APIResponse.handle { try await suspendOne(request, id: try context.parameters.require("id")) }
        }
        v1.get("instances/:id/wait") { request, context in
            await APIResponse.handle { try await waitOne(request, id: try context.parameters.require("id")) }
        }
        v1.get("instances/:id/log") { request, context in
            await APIResponse.handle { try await logOne(request, id: try context.parameters.require("id")) }
        }
        v1.get("instances/:id/metrics") { request, context in
            await APIResponse.handle { try await metricsOne(id: try context.parameters.require("id")) }
        }
    }

    // MARK: - Create

    private func create(_ request: Request) async throws -> Response {
        let started = ContinuousClock.now
        let body = try await Self.body(request)
        let create = try StrictJSON.decode(CreateInstanceRequest.self, from: body)
        let plan = try CreatePlan(create, limits: limits, defaultDriver: defaultDriver)
        let records = try await engine.create(plan.instances)
        let now = Date()
        guard let wait = plan.wait, plan.autostart else {
            // Answer once the reconciler has taken the start up, so the state says so.
            var current: [InstanceRecord] = []
            for record in records {
                current.append(try await engine.waitUntilApplied(record.uuid, timeout: .seconds(5)) ?? record)
            }
            return APIResponse.success(InstancesData(instances: current.map { $0.wire(now: now) }), started: started)
        }
        // A create that waits answers per instance: one that stopped (or was still
        // starting when the wait ran out) is a failed item carrying its state.
        var items: [InstanceDTO] = []
        var failures: [CorralError] = []
        for record in records {
            let current = try await waitQuietly(record.uuid, timeout: wait) ?? record
            var dto = current.wire(now: Date())
            switch current.state {
            case .running, .standby:
                break
            case .starting:
                let error = CorralError.timeout("timed out after \(wait) waiting for instance '\(current.name)' to be running")
                dto.status = .error
                dto.message = error.message
                failures.append(error)
            default:
                let error = CorralError.invalidState(
                    "failed to start instance '\(current.name)': \(current.observed.message ?? "it stopped before it was running")"
                )
                dto.status = .error
                dto.message = error.message
                failures.append(error)
            }
            items.append(dto)
        }
        return APIResponse.batch(items, failures: failures, started: started)
    }

    /// Waits for a start's outcome; a timeout answers with the state reached so far.
    private func waitQuietly(_ uuid: UUID, timeout: Duration) async throws -> InstanceRecord? {
        do {
            return try await engine.waitForStartOutcome(uuid, timeout: timeout)
        } catch {
            guard error.code == .timeout else { throw error }
            return engine.record(uuid)
        }
    }

    // MARK: - Reads

    private func list(_ request: Request) async throws -> Response {
        let started = ContinuousClock.now
        let query = request.uri.queryParameters
        let details = query.get("details").map { $0 != "false" && $0 != "0" } ?? true
        let body = try await Self.body(request)
        var references: [NameOrUUID] = []
        if let items = try StrictJSON.decodeIfPresent([NameOrUUID].self, from: body) {
            references += items
        }
        references += Self.queryReferences(query)
        let now = Date()
        if !references.isEmpty {
            var items: [InstanceDTO] = []
            var failures: [CorralError] = []
            for reference in references {
                do {
                    let record = try await engine.get(try Self.identifier(reference))
                    items.append(record.wire(now: now, details: details))
                } catch {
                    let error = ErrorMapping.corralError(error)
                    failures.append(error)
                    items.append(error.item(InstanceDTO.self, reference: reference))
                }
            }
            return APIResponse.batch(items, failures: failures, started: started)
        }
        var records = engine.list()
        let tags = query.getAll("tags").flatMap { $0.split(separator: ",").map(String.init) }
        if !tags.isEmpty {
            records = records.filter { record in tags.allSatisfy(record.spec.tags.contains) }
        }
        if query.get("order") == "desc" { records.reverse() }
        // `from` is an inclusive cursor: the UUID (or name) of the first item wanted.
        if let from = query.get("from") ?? query.get("from_") {
            guard let index = records.firstIndex(where: { $0.uuid.uuidString.lowercased() == from.lowercased() || $0.name == from }) else {
                throw CorralError.invalidArgument("invalid query 'from': no instance '\(from)'")
            }
            records = Array(records[index...])
        }
        if let count = query.get("count", as: Int.self), count >= 0 {
            records = Array(records.prefix(count))
        }
        return APIResponse.success(InstancesData(instances: records.map { $0.wire(now: now, details: details) }), started: started)
    }

    private func getOne(_ request: Request, id: String) async throws -> Response {
        let started = ContinuousClock.now
        let details = request.uri.queryParameters.get("details").map { $0 != "false" && $0 != "0" } ?? true
        let record = try await engine.get(id)
        return APIResponse.success(InstancesData(instances: [record.wire(details: details)]), started: started)
    }

    // MARK: - Start, stop, suspend, delete

    private func startOne(_ request: Request, id: String) async throws -> Response {
        let body = try StrictJSON.decodeIfPresent(StartInstanceRequestBody.self, from: try await Self.body(request))
        return await runBatch([(Self.reference(id), body ?? StartInstanceRequestBody())], InstanceStateChangeDTO.self, single: true) { id, body in
            try await start(id, body)
        }
    }

    private func batchStart(_ request: Request) async throws -> Response {
        let items = try StrictJSON.decode([StartInstancesRequestItem].self, from: try await Self.body(request))
        return await runBatch(items.map { ($0.reference, $0.body) }, InstanceStateChangeDTO.self) { id, body in
            try await start(id, body)
        }
    }

    private func start(_ id: String, _ body: StartInstanceRequestBody) async throws -> InstanceStateChangeDTO {
        let outcome = try await engine.start(id)
        guard var record = outcome.record else { throw CorralError.notFound("failed to start instance '\(id)': it was deleted") }
        if let wait = try Self.timeout(milliseconds: body.waitTimeoutMs, seconds: body.timeoutS) {
            record = try await waitQuietly(record.uuid, timeout: wait) ?? record
        }
        return record.stateChange(previous: outcome.previousState)
    }

    private func stopOne(_ request: Request, id: String) async throws -> Response {
        let body = try StrictJSON.decodeIfPresent(StopInstanceRequestBody.self, from: try await Self.body(request))
        return await runBatch([(Self.reference(id), body ?? StopInstanceRequestBody())], InstanceStateChangeDTO.self, single: true) { id, body in
            try await stop(id, body)
        }
    }

    private func batchStop(_ request: Request) async throws -> Response {
        let items = try StrictJSON.decode([StopInstancesRequestItem].self, from: try await Self.body(request))
        return await runBatch(items.map { ($0.reference, $0.body) }, InstanceStateChangeDTO.self) { id, body in
            try await stop(id, body)
        }
    }

    private func stop(_ id: String, _ body: StopInstanceRequestBody) async throws -> InstanceStateChangeDTO {
        if body.dump == true {
            throw CorralError.unsupported("unsupported field 'dump': core dumps on stop are not supported")
        }
        let request = StopRequest(graceMilliseconds: body.drainTimeoutMs, force: body.force ?? false)
        let outcome = try await engine.stop(id, request)
        guard let record = outcome.record else { throw CorralError.notFound("failed to stop instance '\(id)': it was deleted") }
        return record.stateChange(previous: outcome.previousState)
    }

    private func suspendOne(_ request: Request, id: String) async throws -> Response {
        _ = try StrictJSON.decodeIfPresent(SuspendInstanceRequestBody.self, from: try await Self.body(request))
        return await runBatch([(Self.reference(id), ())], InstanceStateChangeDTO.self, single: true) { id, _ in try await suspend(id) }
    }

    private func batchSuspend(_ request: Request) async throws -> Response {
        let items = try StrictJSON.decode([SuspendInstancesRequestItem].self, from: try await Self.body(request))
        return await runBatch(items.map { ($0.reference, ()) }, InstanceStateChangeDTO.self) { id, _ in
            try await suspend(id)
        }
    }

    private func suspend(_ id: String) async throws -> InstanceStateChangeDTO {
        let outcome = try await engine.suspend(id)
        guard let record = outcome.record else { throw CorralError.notFound("failed to suspend instance '\(id)': it was deleted") }
        return record.stateChange(previous: outcome.previousState)
    }

    private func deleteOne(_ request: Request, id: String) async throws -> Response {
        _ = try StrictJSON.decodeIfPresent(DeleteInstanceRequestBody.self, from: try await Self.body(request))
        return await runBatch([(Self.reference(id), ())], InstanceStateChangeDTO.self, single: true) { id, _ in try await delete(id) }
    }

    private func batchDelete(_ request: Request) async throws -> Response {
        let items = try StrictJSON.decode([DeleteInstancesRequestItem].self, from: try await Self.body(request))
        return await runBatch(items.map { ($0.reference, ()) }, InstanceStateChangeDTO.self) { id, _ in
            try await delete(id)
        }
    }

    private func delete(_ id: String) async throws -> InstanceStateChangeDTO {
        let record = try await engine.get(id)
        let outcome = try await engine.delete(id)
        return InstanceStateChangeDTO(
            status: .success,
            uuid: record.uuid.uuidString.lowercased(),
            name: record.name,
            state: .deleted,
            previousState: WireInstanceState(rawValue: outcome.previousState.rawValue)
        )
    }

    // MARK: - Wait

    private func waitOne(_ request: Request, id: String) async throws -> Response {
        let body = try await Self.body(request)
        let query = request.uri.queryParameters
        let wait: WaitInstanceRequestBody
        if let decoded = try StrictJSON.decodeIfPresent(WaitInstanceRequestBody.self, from: body) {
            wait = decoded
        } else {
            guard let state = query.get("state").flatMap(WireInstanceState.init(rawValue:)) else {
                throw CorralError.invalidArgument("missing field 'state': the state to wait for")
            }
            wait = WaitInstanceRequestBody(state: state, timeoutMs: query.get("timeout_ms", as: Int.self), timeoutS: query.get("timeout_s", as: Int.self))
        }
        return await runBatch([(Self.reference(id), wait)], WaitedInstanceDTO.self, single: true) { id, wait in
            try await self.wait(id, state: wait.state, timeoutMs: wait.timeoutMs, timeoutS: wait.timeoutS)
        }
    }

    private func batchWait(_ request: Request) async throws -> Response {
        let body = try await Self.body(request)
        let query = request.uri.queryParameters
        var items = try StrictJSON.decodeIfPresent([WaitInstancesRequestItem].self, from: body) ?? []
        for reference in Self.queryReferences(query) {
            items.append(WaitInstancesRequestItem(
                uuid: reference.uuid, name: reference.name,
                state: query.get("state").flatMap(WireInstanceState.init(rawValue:)),
                timeoutMs: query.get("timeout_ms", as: Int.self), timeoutS: query.get("timeout_s", as: Int.self)
            ))
        }
        return await runBatch(items.map { ($0.reference, $0) }, WaitedInstanceDTO.self) { id, item in
            try await wait(id, state: item.state ?? .running, timeoutMs: item.timeoutMs, timeoutS: item.timeoutS)
        }
    }

    private func wait(_ id: String, state: WireInstanceState, timeoutMs: Int?, timeoutS: Int?) async throws -> WaitedInstanceDTO {
        guard let target = InstanceState(rawValue: state.rawValue) else {
            throw CorralError.invalidArgument("invalid field 'state': unknown state '\(state.rawValue)'")
        }
        let timeout = try Self.timeout(milliseconds: timeoutMs, seconds: timeoutS) ?? Self.defaultWait
        let before = try await engine.get(id)
        let record: InstanceRecord?
        do {
            record = try await engine.wait(id, for: target, timeout: timeout)
        } catch {
            guard error.code == .timeout else { throw error }
            let current = engine.record(before.uuid)
            let message = "timed out after \(timeout) waiting for instance '\(before.name)' to be \(target.rawValue)"
            throw ItemFailure(
                item: WaitedInstanceDTO(
                    status: .error,
                    message: message,
                    uuid: before.uuid.uuidString.lowercased(),
                    name: before.name,
                    state: WireInstanceState(rawValue: (current?.state ?? .deleted).rawValue)
                ),
                error: .timeout(message)
            )
        }
        return WaitedInstanceDTO(
            status: .success,
            uuid: before.uuid.uuidString.lowercased(),
            name: before.name,
            state: WireInstanceState(rawValue: (record?.state ?? .deleted).rawValue)
        )
    }

    // MARK: - Logs and metrics

    private func logOne(_ request: Request, id: String) async throws -> Response {
        let body = try StrictJSON.decodeIfPresent(InstanceLogsRequestBody.self, from: try await Self.body(request))
        let query = request.uri.queryParameters
        let offset = body?.offset ?? query.get("offset", as: Int.self)
        let limit = body?.limit ?? query.get("limit", as: Int.self)
        return await runBatch([(Self.reference(id), ())], InstanceLogsDTO.self, single: true) { id, _ in try await log(id, offset: offset, limit: limit) }
    }

    private func batchLog(_ request: Request) async throws -> Response {
        let body = try await Self.body(request)
        let query = request.uri.queryParameters
        var items = try StrictJSON.decodeIfPresent([InstanceLogsRequestItem].self, from: body) ?? []
        for reference in Self.queryReferences(query) {
            items.append(InstanceLogsRequestItem(
                uuid: reference.uuid, name: reference.name,
                offset: query.get("offset", as: Int.self), limit: query.get("limit", as: Int.self)
            ))
        }
        return await runBatch(items.map { ($0.reference, $0) }, InstanceLogsDTO.self) { id, item in
            try await log(id, offset: item.offset, limit: item.limit)
        }
    }

    private func log(_ id: String, offset: Int?, limit: Int?) async throws -> InstanceLogsDTO {
        let limit = limit ?? Self.defaultLogLimit
        guard limit >= 0, limit <= Self.maximumLogLimit else {
            throw CorralError.invalidArgument("invalid field 'limit' \(limit): must be between 0 and \(Self.maximumLogLimit)")
        }
        // Unikraft Cloud reads from the start when no offset is given.
        let (record, chunk) = try await engine.readLog(id, offset: Int64(offset ?? 0), limit: limit)
        return InstanceLogsDTO(
            uuid: record.uuid.uuidString.lowercased(),
            name: record.name,
            bytes: Data(chunk.bytes),
            available: .init(start: Int(chunk.availableStart), end: Int(chunk.availableEnd)),
            range: .init(start: Int(chunk.rangeStart), end: Int(chunk.rangeStart) + chunk.bytes.count),
            state: WireInstanceState(rawValue: record.state.rawValue)
        )
    }

    private func metricsOne(id: String) async throws -> Response {
        await runBatch([(Self.reference(id), ())], InstanceMetricsDTO.self, single: true) { id, _ in try await metrics(id) }
    }

    private func batchMetrics(_ request: Request) async throws -> Response {
        var references = try StrictJSON.decodeIfPresent([NameOrUUID].self, from: try await Self.body(request)) ?? []
        references += Self.queryReferences(request.uri.queryParameters)
        if references.isEmpty {
            references = engine.list().map { NameOrUUID(uuid: $0.uuid.uuidString.lowercased()) }
        }
        return await runBatch(references.map { ($0, ()) }, InstanceMetricsDTO.self) { id, _ in
            try await metrics(id)
        }
    }

    private func metrics(_ id: String) async throws -> InstanceMetricsDTO {
        let record = try await engine.get(id)
        let usage: InstanceUsage?
        do {
            usage = try await engine.usage(record)
        } catch {
            guard error.code == .unsupported else { throw error }
            usage = nil
        }
        return InstanceMetricsDTO(
            status: .success,
            uuid: record.uuid.uuidString.lowercased(),
            name: record.name,
            rssBytes: usage?.rssBytes.map { Int($0) } ?? 0,
            cpuTimeMs: usage?.cpuTimeMilliseconds.map { Int($0) } ?? 0,
            bootTimeUs: record.observed.bootTimeMicroseconds.map { Int($0) } ?? 0
        )
    }

    // MARK: - Update

    private func updateOne(_ request: Request, id: String) async throws -> Response {
        let body = try await Self.body(request)
        // The by-UUID form takes one change or a list of changes.
        let changes: [UpdateInstanceRequestBody]
        let single: Bool
        if case .array = try JSONValue(parsing: body) {
            changes = try StrictJSON.decode([UpdateInstanceRequestBody].self, from: body)
            single = false
        } else {
            changes = [try StrictJSON.decode(UpdateInstanceRequestBody.self, from: body)]
            single = true
        }
        return await runBatch(changes.map { (Self.reference(id), $0) }, UpdatedInstanceDTO.self, single: single) { id, change in
            try await update(id, change)
        }
    }

    private func batchUpdate(_ request: Request) async throws -> Response {
        let items = try StrictJSON.decode([UpdateInstancesRequestItem].self, from: try await Self.body(request))
        return await runBatch(items.map { ($0.reference, $0.body) }, UpdatedInstanceDTO.self) { id, change in
            try await update(id, change)
        }
    }

    private func update(_ id: String, _ change: UpdateInstanceRequestBody) async throws -> UpdatedInstanceDTO {
        let apply = try InstanceUpdate.change(for: change)
        let outcome = try await engine.update(id, apply)
        guard let record = outcome.record else { throw CorralError.notFound("failed to update instance '\(id)': it was deleted") }
        return UpdatedInstanceDTO(status: .success, uuid: record.uuid.uuidString.lowercased(), name: record.name, id: change.id)
    }

    // MARK: - Batch plumbing

    /// Runs `operation` for every item concurrently and answers per item, in order.
    /// An item without a usable reference fails on its own.
    private func runBatch<Payload: Sendable, Item: FailableItem>(
        _ inputs: [(NameOrUUID, Payload)],
        _: Item.Type,
        single: Bool = false,
        operation: @escaping @Sendable (String, Payload) async throws -> Item
    ) async -> Response {
        let started = ContinuousClock.now
        let results = await withTaskGroup(of: (Int, Result<Item, ItemFailure<Item>>).self) { group in
            for (index, (reference, payload)) in inputs.enumerated() {
                group.addTask {
                    do {
                        return (index, .success(try await operation(try Self.identifier(reference), payload)))
                    } catch let failure as ItemFailure<Item> {
                        return (index, .failure(failure))
                    } catch {
                        let error = ErrorMapping.corralError(error)
                        return (index, .failure(ItemFailure(item: error.item(Item.self, reference: reference), error: error)))
                    }
                }
            }
            var out = [Result<Item, ItemFailure<Item>>?](repeating: nil, count: inputs.count)
            for await (index, result) in group { out[index] = result }
            return out
        }
        var items: [Item] = []
        var failures: [CorralError] = []
        for result in results {
            switch result {
            case .success(let item):
                items.append(item)
            case .failure(let failure):
                failures.append(failure.error)
                items.append(failure.item)
            case nil:
                break
            }
        }
        return APIResponse.batch(items, failures: failures, single: single, started: started)
    }

    /// A path identifier as the reference a failed item echoes back.
    static func reference(_ id: String) -> NameOrUUID {
        UUID(uuidString: id) != nil ? NameOrUUID(uuid: id) : NameOrUUID(name: id)
    }

    // MARK: - Parsing helpers

    static func body(_ request: Request) async throws -> Data {
        let buffer = try await request.body.collect(upTo: maximumBody)
        return Data(buffer.readableBytesView)
    }

    static func identifier(_ reference: NameOrUUID) throws(CorralError) -> String {
        guard let id = reference.identifier, !id.isEmpty else {
            throw .invalidArgument("invalid item: each item needs a 'uuid' or a 'name'")
        }
        return id
    }

    static func queryReferences(_ query: Parameters) -> [NameOrUUID] {
        let uuids = query.getAll("uuid").flatMap { $0.split(separator: ",").map(String.init) }
        let names = query.getAll("name").flatMap { $0.split(separator: ",").map(String.init) }
        return uuids.map { NameOrUUID(uuid: $0) } + names.map { NameOrUUID(name: $0) }
    }

    /// A wait asked for in milliseconds or seconds (`timeout_s` wins); nil when none
    /// or zero; -1 means as long as allowed.
    static func timeout(milliseconds: Int?, seconds: Int?) throws(CorralError) -> Duration? {
        if let seconds {
            if seconds == -1 { return maximumWait }
            guard seconds >= 0 else { throw .invalidArgument("invalid field 'timeout_s' \(seconds): must be -1 or more") }
            return seconds == 0 ? nil : min(.seconds(seconds), maximumWait)
        }
        if let milliseconds {
            if milliseconds == -1 { return maximumWait }
            guard milliseconds >= 0 else { throw .invalidArgument("invalid field 'timeout_ms' \(milliseconds): must be -1 or more") }
            return milliseconds == 0 ? nil : min(.milliseconds(milliseconds), maximumWait)
        }
        return nil
    }
}
