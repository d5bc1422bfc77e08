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
        let paths = paths(uuid)
        if let shim = liveShim(uuid, paths: paths) {
            await killRemains(uuid, handle: shim.handle)
            await waitForShim(uuid, handle: shim.handle)
        }
        if layout != .none { try await cgroup(uuid).remove() }
        removeRuntimeFiles(paths)
    }

    /// Removes everything the instance has on this host: `cleanup`, then its
    /// directory with the log. Idempotent.
    public func destroy(_ uuid: UUID) async throws(CorralError) {
        try await cleanup(uuid)
        let directory = paths(uuid).directory
        do {
            try FileSystem.removeTree(directory)
        } catch {
            throw CorralError(.internal, "failed to destroy instance: cannot remove \(directory)", cause: error)
        }
    }

    /// Removes the files of one run; the log trio stays.
    func removeRuntimeFiles(_ paths: InstancePaths) {
        for name in InstanceFileNames.runtime { try? RawFile.remove(paths.file(name)) }
        for name in (try? FileSystem.entries(of: paths.directory)) ?? [] where name.contains(".tmp.") {
            try? RawFile.remove(paths.file(name))
        }
    }

    /// Waits up to five seconds for the shim to exit and, if this driver watches
    /// it, for its exit to have been reported; then SIGKILLs a shim still there.
    private func waitForShim(_ uuid: UUID, handle: DriverHandle) async {
        let shim = WatchedShim(handle)
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            let alive = HostProcess.isAlive(pid: handle.shimPID, startTime: handle.shimStartTime)
            let watched = watches.withLock { $0[uuid] } == shim
            if !alive && !watched { return }
            try? await Task.sleep(for: .milliseconds(2))
        }
        HostProcess.signal(pid: handle.shimPID, startTime: handle.shimStartTime, SIGKILL)
    }
}
