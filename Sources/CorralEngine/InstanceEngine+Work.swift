import CorralCore
import Foundation
import Logging

extension InstanceEngine {
    /// Handles one work item of an instance this worker owns.
    func handle(_ uuid: UUID, _ item: WorkItem) async {
        if case .event = item {
            // `apply` catches up on deferred events itself.
        } else if deferredEvents[uuid] != nil {
            // Catch up on refused transitions before acting on a stale record.
            await apply(uuid, .reconcile)
        }
        switch item {
        case .event(let event):
            await apply(uuid, event)

        case .adopt:
            guard let record = table.get(uuid) else { return }
            guard let handle = record.observed.phase.handle, let driver = drivers[record.spec.driver] else {
                await apply(uuid, .adopted(.lost(reason: "driver \(record.spec.driver) is not available")))
                return
            }
            let result = await driver.adopt(uuid, handle: handle)
            logger.info("re-adopted instance", metadata: ["instance": "\(record.name)", "result": "\(result)"])
            await apply(uuid, .adopted(result))

        case .mutate(let mutation, let reply):
            guard let previous = table.get(uuid) else {
                reply.resume(throwing: CorralError.notFound("failed to find instance \(uuid.uuidString.lowercased())"))
                return
            }
            var changed = previous
            do {
                try mutation.apply(&changed)
            } catch {
                reply.resume(throwing: error)
                return
            }
            changed.desired.generation = previous.desired.generation + 1
            let transition = configuration.machine.step(changed, .reconcile, now: clock.now())
            do {
                try await commit(uuid, transition.record)
            } catch {
                reply.resume(throwing: error)
                return
            }
            reply.resume(returning: MutationOutcome(previous: previous, current: transition.record))
            await perform(uuid, transition.actions)
        }
    }

    /// Steps the machine with `event` (after any events deferred earlier), persists the
    /// result, then performs its actions (which may feed further events).
    ///
    /// When the store refuses a write, nothing is announced or done: the event and
    /// everything after it are kept and applied again at the next look, soon.
    func apply(_ uuid: UUID, _ event: InstanceEvent) async {
        var events = deferredEvents.removeValue(forKey: uuid) ?? []
        events.append(event)
        while !events.isEmpty {
            let next = events.removeFirst()
            let persisted = await step(uuid, next)
            if !persisted { events.insert(next, at: 0) }
            // A follow-up of this event may itself have been deferred: keep the order.
            if !persisted || deferredEvents[uuid] != nil {
                let kept = (deferredEvents[uuid] ?? []) + events.filter { $0 != .reconcile }
                deferredEvents[uuid] = kept.isEmpty ? nil : kept
                schedule(uuid, at: clock.now().addingTimeInterval(configuration.machine.retryAfterSeconds))
                return
            }
        }
    }

    /// One machine step; false when the store refused its write.
    private func step(_ uuid: UUID, _ event: InstanceEvent) async -> Bool {
        guard let record = table.get(uuid) else { return true }
        let transition = configuration.machine.step(record, event, now: clock.now())
        do {
            if transition.record != record {
                try await commit(uuid, transition.record)
            }
        } catch {
            logger.error("failed to persist instance transition", metadata: ["instance": "\(record.name)", "error": "\(error)"])
            return false
        }
        await perform(uuid, transition.actions)
        return true
    }

    /// Persists a record (nil: deletes it), then publishes it to readers and waiters.
    func commit(_ uuid: UUID, _ record: InstanceRecord?) async throws(CorralError) {
        if let record {
            try await store.update(record)
            table.put(record)
        } else {
            try await store.delete(uuid)
            table.remove(uuid)
        }
        waiters.notify(uuid, record: record)
    }

    /// Performs actions in order; events they produce are applied afterwards, in order.
    func perform(_ uuid: UUID, _ actions: [InstanceAction]) async {
        var followUps: [InstanceEvent] = []
        for action in actions {
            if let event = await perform(uuid, action) { followUps.append(event) }
        }
        for event in followUps {
            await apply(uuid, event)
        }
    }

    private func perform(_ uuid: UUID, _ action: InstanceAction) async -> InstanceEvent? {
        guard let record = table.get(uuid) else { return nil }
        if case .wake(let date) = action {
            schedule(uuid, at: date)
            return nil
        }
        guard let driver = drivers[record.spec.driver] else {
            let message = "driver '\(record.spec.driver)' is not available on this host"
            if case .start = action { return .startFailed(message) }
            return .actionFailed(message)
        }
        let metadata: Logger.Metadata = ["instance": "\(record.name)", "action": "\(action.label)"]
        do {
            switch action {
            case .start:
                let started = try await driver.start(StartRequest(uuid: uuid, name: record.name, spec: record.spec))
                return .started(started)
            case .terminate(let handle):
                try await driver.terminate(uuid, handle: handle)
            case .kill(let handle):
                try await driver.kill(uuid, handle: handle)
            case .freeze(let handle):
                try await driver.freeze(uuid, handle: handle)
            case .thaw(let handle):
                try await driver.thaw(uuid, handle: handle)
            case .cleanup:
                try await driver.cleanup(uuid)
            case .destroy:
                try await driver.destroy(uuid)
                return .destroyed
            case .wake:
                break
            }
        } catch {
            logger.warning("instance action failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            if case .start = action { return .startFailed(error.message) }
            return .actionFailed("failed to \(action.label) instance: \(error.message)")
        }
        return nil
    }
}

extension InstanceAction {
    var label: String {
        switch self {
        case .start: "start"
        case .terminate: "terminate"
        case .kill: "kill"
        case .freeze: "freeze"
        case .thaw: "thaw"
        case .cleanup: "clean up"
        case .destroy: "destroy"
        case .wake: "wake"
        }
    }
}
