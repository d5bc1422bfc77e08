import CorralCore
import Foundation
import Synchronization

/// The open QMP and agent connections of the running VMs, by instance, and the
/// instances whose exit must not be reported (a start that failed after QEMU ran).
final class VMChannelTable: Sendable {
    struct Channels: Sendable {
        var qmp: QMPClient?
        var agent: AgentClient?
        /// The shim of the run these connections belong to.
        var shimPID: Int32
    }

    private struct State {
        var channels: [UUID: Channels] = [:]
        var silenced: Set<UUID> = []
    }

    private let state = Mutex(State())

    func channels(_ uuid: UUID) -> Channels? {
        state.withLock { $0.channels[uuid] }
    }

    func set(_ uuid: UUID, _ channels: Channels) {
        let old = state.withLock { state in
            defer { state.channels[uuid] = channels }
            return state.channels[uuid]
        }
        if let old {
            if old.qmp !== channels.qmp { old.qmp?.close() }
            if old.agent !== channels.agent { old.agent?.close() }
        }
    }

    /// Closes and forgets the instance's connections.
    func remove(_ uuid: UUID) {
        let old = state.withLock { $0.channels.removeValue(forKey: uuid) }
        old?.qmp?.close()
        old?.agent?.close()
    }

    /// Closes every connection; for daemon shutdown.
    func removeAll() {
        let all = state.withLock { state in
            defer { state.channels.removeAll() }
            return Array(state.channels.values)
        }
        for channels in all {
            channels.qmp?.close()
            channels.agent?.close()
        }
    }

    func silence(_ uuid: UUID, _ on: Bool) {
        state.withLock { state in
            if on { state.silenced.insert(uuid) } else { state.silenced.remove(uuid) }
        }
    }

    func isSilenced(_ uuid: UUID) -> Bool {
        state.withLock { $0.silenced.contains(uuid) }
    }
}
