import CorralCore
import CorralHost
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension VMDriver {
    /// Whether VMs can run here: root, QEMU and its version, qemu-img and
    /// mkfs.ext4, corral-shim and corral-agent, the kernel, and the accelerator in
    /// use and why (for `auto` this boots the probe VM once). Never throws.
    public func probe() async -> DriverProbe {
        var probe = DriverProbe(available: true, notes: [])

        if getuid() != 0 { probe.missing("not running as root: taps, cgroups and /dev/kvm need it") }
        if let qemuPath {
            probe.notes.append("qemu: \(qemuPath) (\(await Self.qemuVersion(qemuPath, watcher: try? watcher("probe")) ?? "version unknown"))")
        } else {
            probe.missing("qemu-system-x86_64 not found on PATH (Debian package qemu-system-x86)")
        }
        if let qemuImgPath { probe.notes.append("qemu-img: \(qemuImgPath)") } else { probe.missing("qemu-img not found on PATH (Debian package qemu-utils)") }
        if let mkfsPath { probe.notes.append("mkfs.ext4: \(mkfsPath)") } else { probe.missing("mkfs.ext4 not found on PATH (Debian package e2fsprogs)") }
        if FileSystem.isExecutableFile(configuration.shimPath) {
            probe.notes.append("corral-shim: \(configuration.shimPath)")
        } else {
            probe.missing("corral-shim missing or not executable at \(configuration.shimPath)")
        }
        if FileSystem.isExecutableFile(configuration.agentPath) {
            probe.notes.append("corral-agent: \(configuration.agentPath)")
        } else {
            probe.missing("corral-agent missing or not executable at \(configuration.agentPath)")
        }
        if let error = supervisor.watcherFailure { probe.missing("cannot watch processes: \(error)") }
        if case .failure(let error) = channelWatcher { probe.missing("cannot watch sockets: \(error)") }
        do throws(CorralError) {
            let kernel = try assets.kernel(path: nil)
            probe.notes.append("kernel: \(kernel.path) (\(kernel.version ?? "version unknown"))")
        } catch {
            probe.missing("kernel: \(error.message) (Debian package linux-image-cloud-amd64)")
        }
        probe.notes.append("machine: \(configuration.machine.rawValue)")
        if probe.available {
            probe.notes.append("accelerator \(await accelerators.decision().reason)")
        } else {
            probe.notes.append("accelerator: not probed")
        }
        probe.notes.append(networking == nil ? "network: none configured; VMs have loopback only"
                                       : "network: a tap on the bridge per VM")
        probe.notes.append("capabilities: \(capabilities.names.joined(separator: ", "))")
        return probe
    }

    /// `QEMU emulator version 7.2.22 (…)` → `7.2.22`.
    static func qemuVersion(_ path: String, watcher: DescriptorWatcher?) async -> String? {
        guard let watcher else { return nil }
        guard let outcome = try? await HostCommand(executable: path, arguments: ["--version"]).run(
            watcher: watcher, deadline: HostProcess.monotonicNanoseconds() + 5_000_000_000
        ) else { return nil }
        let text = String(decoding: outcome.stdout, as: UTF8.self)
        guard let line = text.split(separator: "\n").first else { return nil }
        let words = line.split(separator: " ")
        if let index = words.firstIndex(of: "version"), index + 1 < words.count { return String(words[index + 1]) }
        return String(line)
    }
}
