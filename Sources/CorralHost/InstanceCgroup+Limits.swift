import CorralCore
import CorralShimFormat

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension InstanceCgroup {
    /// The CFS period Corral sets on v2 (`cpu.max`); v1 keeps the kernel's period.
    static let cpuPeriodMicroseconds: Int64 = 100_000

    /// Creates the parent cgroup in every hierarchy and, on v2, enables the
    /// controllers for its children.
    func prepareParents() throws(CorralError) {
        switch layout {
        case .none:
            throw .unavailable("failed to create cgroup: no cgroup file system mounted")
        case .v1(let mounts):
            for mount in Set(mounts.values).sorted() {
                let path = "\(mount)/\(parent)"
                do {
                    try FileSystem.makeDirectories(path)
                } catch {
                    throw CorralError(.unavailable, "failed to create cgroup \(path)", cause: error)
                }
            }
        case .v2(let mount):
            let path = "\(mount)/\(parent)"
            do {
                try FileSystem.makeDirectories(path)
            } catch {
                throw CorralError(.unavailable, "failed to create cgroup \(path)", cause: error)
            }
            for directory in [mount, path] { enableControllers(in: directory) }
        }
    }

    /// Enables memory, cpu and pids for the children of a v2 cgroup, one controller
    /// at a time so one the kernel lacks does not block the others.
    private func enableControllers(in directory: String) {
        let enabled = (try? FileSystem.readText("\(directory)/cgroup.subtree_control")) ?? ""
        let present = Set(enabled.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
        for controller in ["memory", "cpu", "pids"] where !present.contains(controller) {
            try? FileSystem.writeControl("\(directory)/cgroup.subtree_control", "+\(controller)")
        }
    }

    /// Writes each limit and reads it back; a nil limit is left as it is.
    public func apply(_ limits: CgroupLimits) throws(CorralError) {
        switch layout {
        case .none:
            return
        case .v1:
            if let bytes = limits.memoryBytes, let directory = directory(.memory) {
                try applyV1Memory(bytes, in: directory)
            }
            if let cpus = limits.cpus, let directory = directory(.cpu) {
                let period = Self.readInteger("\(directory)/cpu.cfs_period_us") ?? Self.cpuPeriodMicroseconds
                try set("\(directory)/cpu.cfs_quota_us", Int64(cpus) * period)
            }
            if let maxProcesses = limits.maxProcesses, let directory = directory(.pids) {
                try set("\(directory)/pids.max", Int64(maxProcesses))
            }
        case .v2:
            guard let directory = directory(.memory) else { return }
            if let bytes = limits.memoryBytes {
                try set("\(directory)/memory.max", bytes)
                // Swap would let the workload exceed its memory limit.
                if RawFile.exists("\(directory)/memory.swap.max") { try set("\(directory)/memory.swap.max", 0) }
            }
            if let cpus = limits.cpus {
                let value = "\(Int64(cpus) * Self.cpuPeriodMicroseconds) \(Self.cpuPeriodMicroseconds)"
                try set("\(directory)/cpu.max", text: value, expect: value)
            }
            if let maxProcesses = limits.maxProcesses {
                try set("\(directory)/pids.max", Int64(maxProcesses))
            }
        }
    }

    /// v1 memory and memory+swap limits. The kernel requires memory ≤ memsw at every
    /// moment, so raising goes memsw first and lowering goes memory first.
    private func applyV1Memory(_ bytes: Int64, in directory: String) throws(CorralError) {
        let memory = "\(directory)/memory.limit_in_bytes"
        let memsw = "\(directory)/memory.memsw.limit_in_bytes"
        guard RawFile.exists(memsw) else {
            try set(memory, bytes)
            return
        }
        let current = Self.readInteger(memory) ?? Int64.max
        if bytes > current {
            try set(memsw, bytes)
            try set(memory, bytes)
        } else {
            try set(memory, bytes)
            try set(memsw, bytes)
        }
    }

    private func set(_ path: String, _ value: Int64) throws(CorralError) {
        try set(path, text: String(value), expect: String(value))
    }

    private func set(_ path: String, text: String, expect: String) throws(CorralError) {
        do {
            try FileSystem.writeControl(path, text)
        } catch {
            throw CorralError(.internal, "failed to set cgroup limit \(path) to \(text)", cause: error)
        }
        let actual = (try? FileSystem.readText(path))?.split(separator: "\n").first.map(String.init)
        guard actual == expect else {
            throw .internal("failed to set cgroup limit \(path): wrote \(text), reads back \(actual ?? "nothing")")
        }
    }
}
