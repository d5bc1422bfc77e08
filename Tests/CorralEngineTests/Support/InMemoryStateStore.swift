import CorralCore
import Foundation

/// A `StateStore` in memory. It keeps its records across engines, so a test can
/// "restart the daemon" by loading them into a new engine; it can be told to refuse
/// writes or to hold them until released, and it counts what it accepted.
actor InMemoryStateStore: StateStore {
    enum Write: Sendable {
        case insert([InstanceRecord])
        case update(InstanceRecord)
        case delete(UUID)

        /// The record an update writes.
        var updated: InstanceRecord? {
            if case .update(let record) = self { return record }
            return nil
        }
    }

    typealias WriteFilter = @Sendable (Write) -> Bool

    private var records: [UUID: InstanceRecord] = [:]
    private var quarantined: [QuarantinedRecord]
    private(set) var acceptedWrites = 0
    private(set) var refusedWrites = 0
    /// Every accepted write, in order.
    private(set) var history: [Write] = []
    private var failing: WriteFilter?
    private var holding: WriteFilter?
    private var held: [CheckedContinuation<Void, Never>] = []

    init(records: [InstanceRecord] = [], quarantined: [QuarantinedRecord] = []) {
        for record in records { self.records[record.uuid] = record }
        self.quarantined = quarantined
    }

    // MARK: - Scripting

    /// Refuses every write `filter` matches, with `unavailable`, until `stopFailing()`.
    func failWrites(where filter: @escaping WriteFilter = { _ in true }) {
        failing = filter
    }

    func stopFailing() {
        failing = nil
    }

    /// Suspends every write `filter` matches until `releaseHeld()`.
    func holdWrites(where filter: @escaping WriteFilter) {
        holding = filter
    }

    func releaseHeld() {
        holding = nil
        let waiting = held
        held = []
        for continuation in waiting { continuation.resume() }
    }

    var heldCount: Int { held.count }

    // MARK: - Inspection

    func record(_ uuid: UUID) -> InstanceRecord? { records[uuid] }

    func record(named name: String) -> InstanceRecord? {
        records.values.first { $0.name == name }
    }

    var count: Int { records.count }

    // MARK: - StateStore

    func load() async throws(CorralError) -> LoadedState {
        LoadedState(
            instances: records.values.sorted { ($0.createdAt, $0.name) < ($1.createdAt, $1.name) },
            quarantined: quarantined
        )
    }

    func insert(_ new: [InstanceRecord]) async throws(CorralError) {
        try await admit(.insert(new))
        var names = Set(records.values.map(\.name))
        for record in new where !names.insert(record.name).inserted {
            throw .conflict("failed to create instance: name '\(record.name)' is already taken")
        }
        for record in new { records[record.uuid] = record }
        accepted(.insert(new))
    }

    func update(_ record: InstanceRecord) async throws(CorralError) {
        try await admit(.update(record))
        guard records[record.uuid] != nil else {
            throw .notFound("failed to update instance \(record.uuid): no such record")
        }
        if records.values.contains(where: { $0.name == record.name && $0.uuid != record.uuid }) {
            throw .conflict("failed to rename instance: name '\(record.name)' is already taken")
        }
        records[record.uuid] = record
        accepted(.update(record))
    }

    func delete(_ uuid: UUID) async throws(CorralError) {
        try await admit(.delete(uuid))
        records.removeValue(forKey: uuid)
        accepted(.delete(uuid))
    }

    private func admit(_ write: Write) async throws(CorralError) {
        if let holding, holding(write) {
            await withCheckedContinuation { held.append($0) }
        }
        if let failing, failing(write) {
            refusedWrites += 1
            throw .unavailable("failed to write instance record: the store is offline")
        }
    }

    private func accepted(_ write: Write) {
        acceptedWrites += 1
        history.append(write)
    }
}
