import CorralCore
import CorralHost
import Foundation

extension ProcessDriver {
    /// Re-attaches to an instance after a daemon restart. Pids are trusted only
    /// with their start times.
    ///
    /// - The shim is alive: it is watched again and its exit will be reported.
    /// - The shim is gone and left an exit record: that exit, not reported to the sink.
    /// - The shim is gone without a record: whatever is left in the instance's
    ///   cgroup is killed and the instance is `lost`.
    public func adopt(_ uuid: UUID, handle: DriverHandle) async -> AdoptionResult {
        await supervisor.adopt(uuid, handle: handle)
    }
}
