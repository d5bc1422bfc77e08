import CorralCore
import CorralShimFormat

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension InstanceCgroup {
    /// Usage of the cgroup's processes: resident anonymous memory and CPU time.
    public func usage() -> InstanceUsage {
        InstanceUsage(rssBytes: residentBytes(), cpuTimeMilliseconds: cpuNanoseconds().map { $0 / 1_000_000 })
    }

    /// The instance's directories in the hierarchies this layout does not manage
    /// (`devices`, `blkio`, `cpuset`, `name=systemd`, …), which an OCI runtime also
    /// creates, and that exist.
    public func foreignDirectories(mountinfo: String) -> [String] {
        let managed = Set(directories)
        let mounts = CgroupLayout.mountPoints(mountinfo: mountinfo)
        return (mounts.v1 + mounts.v2)
            .map { "\($0)/\(relativePath)" }
            .filter { !managed.contains($0) && RawFile.exists($0) }
    }

    /// Removes the instance's directories from the hierarchies this layout does not
    /// manage. Call once the instance's processes are gone. Idempotent.
    public func removeForeignDirectories() throws(CorralError) {
        guard let mountinfo = try? FileSystem.readText("/proc/self/mountinfo") else { return }
        for directory in foreignDirectories(mountinfo: mountinfo) {
            do {
                try FileSystem.removeDirectory(directory)
            } catch {
                throw CorralError(.internal, "failed to remove cgroup \(directory)", cause: error)
            }
        }
    }
}
