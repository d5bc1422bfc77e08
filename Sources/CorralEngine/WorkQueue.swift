import CorralCore
import Foundation

/// A unit of work for one instance, handled by the worker that owns it.
enum WorkItem: Sendable {
    /// Feed an event to the transition machine.
    case event(InstanceEvent)
    /// Re-attach to a workload after a daemon restart.
    case adopt
    /// Apply an API change to the desired state, then reconcile. `reply` is resumed
    /// once the change and the transition it caused are persisted.
    case mutate(Mutation, reply: CheckedContinuation<MutationOutcome, any Error>)
}

/// A change of desired state (or of mutable spec fields) asked for by the API.
struct Mutation: Sendable {
    /// Validates against the current record and applies the change; throwing leaves
    /// the record untouched.
    var apply: @Sendable (inout InstanceRecord) throws(CorralError) -> Void
}

/// What a mutation's caller learns.
struct MutationOutcome: Sendable {
    var previous: InstanceRecord
    var current: InstanceRecord?
}

/// Per-instance mailboxes with a dirty and a processing set: an instance with work
/// is handed to exactly one worker at a time, and work that arrives while it is
/// being processed waits for that worker to finish.
struct WorkQueue {
    private var mailboxes: [UUID: [WorkItem]] = [:]
    /// Instances with work, not being processed, in arrival order.
    private var ready: [UUID] = []
    private var readySet: Set<UUID> = []
    private var processing: Set<UUID> = []

    /// Adds work; returns whether the instance became ready for a worker.
    mutating func enqueue(_ uuid: UUID, _ item: WorkItem) -> Bool {
        mailboxes[uuid, default: []].append(item)
        guard !processing.contains(uuid), !readySet.contains(uuid) else { return false }
        ready.append(uuid)
        readySet.insert(uuid)
        return true
    }

    /// Takes the next ready instance and marks it processing.
    mutating func claim() -> UUID? {
        guard !ready.isEmpty else { return nil }
        let uuid = ready.removeFirst()
        readySet.remove(uuid)
        processing.insert(uuid)
        return uuid
    }

    /// Takes the pending work of a claimed instance.
    mutating func drain(_ uuid: UUID) -> [WorkItem] {
        mailboxes.removeValue(forKey: uuid) ?? []
    }

    /// Releases a claimed instance; returns whether it has new work and is ready again.
    mutating func release(_ uuid: UUID) -> Bool {
        processing.remove(uuid)
        guard let pending = mailboxes[uuid], !pending.isEmpty else { return false }
        ready.append(uuid)
        readySet.insert(uuid)
        return true
    }

    /// Takes every pending item of every instance; for shutdown.
    mutating func drainAll() -> [WorkItem] {
        let items = mailboxes.values.flatMap { $0 }
        mailboxes.removeAll()
        ready.removeAll()
        readySet.removeAll()
        return items
    }

    var isProcessingAnything: Bool { !processing.isEmpty }
    func isProcessing(_ uuid: UUID) -> Bool { processing.contains(uuid) }
}
