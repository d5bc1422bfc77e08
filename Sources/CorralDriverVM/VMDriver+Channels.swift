import CorralCore
import CorralHost
import Foundation

extension VMDriver {
    /// How long a reconnection to a running VM's socket may take.
    static let reconnectTimeoutNanoseconds: UInt64 = 5_000_000_000

    /// The open QMP connection of the running VM `handle` names, connecting again
    /// when there is none (after a daemon restart) or it dropped. Throws
    /// `invalidState` when QEMU is not running.
    func qmp(_ uuid: UUID, handle: DriverHandle, verb: String) async throws(CorralError) -> QMPClient {
        let current = try current(uuid, handle: handle, verb: verb)
        if let qmp = current?.qmp, qmp.isOpen { return qmp }
        let qmp = try await QMPClient.connect(
            path: paths(uuid).qmpSocket, watcher: try watcher(verb), deadline: Self.reconnectDeadline(),
            keepTrying: Self.alive(handle)
        )
        channels.set(uuid, .init(qmp: qmp, agent: current?.agent, shimPID: handle.shimPID))
        return qmp
    }

    /// The open agent connection of the running VM `handle` names, connecting again
    /// when needed. Throws `invalidState` when QEMU is not running.
    func agent(_ uuid: UUID, handle: DriverHandle, verb: String) async throws(CorralError) -> AgentClient {
        let current = try current(uuid, handle: handle, verb: verb)
        if let agent = current?.agent, agent.isOpen { return agent }
        let agent = try await connectAgent(uuid, handle: handle, deadline: Self.reconnectDeadline(), keepTrying: Self.alive(handle))
        channels.set(uuid, .init(qmp: current?.qmp, agent: agent, shimPID: handle.shimPID))
        return agent
    }

    /// The connections of this run, if any.
    private func current(_ uuid: UUID, handle: DriverHandle, verb: String) throws(CorralError) -> VMChannelTable.Channels? {
        guard Self.alive(handle)() else { throw .invalidState("failed to \(verb): instance is not running") }
        guard let current = channels.channels(uuid), current.shimPID == handle.shimPID else { return nil }
        return current
    }

    static func alive(_ handle: DriverHandle) -> @Sendable () -> Bool {
        { HostProcess.isAlive(pid: handle.workloadPID, startTime: handle.workloadStartTime) }
    }

    static func reconnectDeadline() -> UInt64 {
        HostProcess.monotonicNanoseconds() + reconnectTimeoutNanoseconds
    }
}
