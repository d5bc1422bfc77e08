import CorralCore
import Foundation
import Synchronization

/// The engine's in-memory copy of every stored record, with a name index.
///
/// Readers (API reads, waiters) take snapshots from any context. Only the engine
/// writes, after the store has accepted the write, and only the worker that owns an
/// instance writes that instance's record.
final class RecordTable: Sendable {
    private struct State {
        var byUUID: [UUID: InstanceRecord] = [:]
        var byName: [String: UUID] = [:]
        /// Names promised to creations still being written to the store.
        var reservedNames: Set<String> = []
    }

    private let state = Mutex(State())

    init(_ records: [InstanceRecord]) {
        state.withLock { state in
            for record in records {
                state.byUUID[record.uuid] = record
                state.byName[record.name] = record.uuid
            }
        }
    }

    func get(_ uuid: UUID) -> InstanceRecord? {
        state.withLock { $0.byUUID[uuid] }
    }

    /// Resolves a name or a UUID string.
    func resolve(_ nameOrUUID: String) -> InstanceRecord? {
        state.withLock { state in
            if let uuid = state.byName[nameOrUUID] { return state.byUUID[uuid] }
            if let uuid = UUID(uuidString: nameOrUUID) { return state.byUUID[uuid] }
            return nil
        }
    }

    /// Every record, oldest first.
    func all() -> [InstanceRecord] {
        state.withLock { Array($0.byUUID.values) }
            .sorted { ($0.createdAt, $0.name) < ($1.createdAt, $1.name) }
    }

    var count: Int { state.withLock { $0.byUUID.count } }

    /// Reserves names for a creation; fails naming the first taken one.
    func reserve(_ names: [String]) throws(CorralError) {
        try state.withLock { (state) throws(CorralError) in
            var seen: Set<String> = []
            for name in names {
                if state.byName[name] != nil || state.reservedNames.contains(name) || !seen.insert(name).inserted {
                    throw .conflict("failed to create instance: name '\(name)' is already taken")
                }
            }
            state.reservedNames.formUnion(names)
        }
    }

    func release(_ names: [String]) {
        state.withLock { $0.reservedNames.subtract(names) }
    }

    /// Whether `name` is free for `uuid` to take (rename).
    func isNameFree(_ name: String, for uuid: UUID) -> Bool {
        state.withLock { state in
            if state.reservedNames.contains(name) { return false }
            guard let owner = state.byName[name] else { return true }
            return owner == uuid
        }
    }

    func put(_ record: InstanceRecord) {
        state.withLock { state in
            if let old = state.byUUID[record.uuid], old.name != record.name, state.byName[old.name] == record.uuid {
                state.byName.removeValue(forKey: old.name)
            }
            state.byUUID[record.uuid] = record
            state.byName[record.name] = record.uuid
        }
    }

    func remove(_ uuid: UUID) {
        state.withLock { state in
            guard let old = state.byUUID.removeValue(forKey: uuid) else { return }
            if state.byName[old.name] == uuid { state.byName.removeValue(forKey: old.name) }
        }
    }
}
