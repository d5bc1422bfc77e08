import CorralCore
import CorralHost
import CorralShimFormat
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ProcessDriver {
    /// Removes the instance's cgroups and runtime files, keeping its log. If a shim
    /// of the instance still runs, its workload is killed first and the shim is
    /// given time to record the exit. Idempotent.
    public func cleanup(_ uuid: UUID) async throws(CorralError) {
        await supervisor.endLiveShim(uuid)
        if layout != .none { try await cgroup(uuid).remove() }
        supervisor.removeRuntimeFiles(paths(uuid))
    }

    /// Removes everything the instance has on this host: `cleanup`, then its
    /// directory with the log. Idempotent.
    public func destroy(_ uuid: UUID) async throws(CorralError) {
        try await cleanup(uuid)
        try supervisor.removeInstanceDirectory(uuid)
    }
}
