import CorralCore
import CorralHost
import CorralShimFormat
import Foundation
import Logging

/// Decides the accelerator: the configured one, or for `auto` a tiny probe VM
/// (the same kernel and initramfs, `corral.probe=1`, no disks) under KVM that
/// must print the agent's probe line within `timeout`; silence counts as
/// failure (a KVM that cannot run the stock kernel prints nothing for minutes),
/// and the probe VM is killed at the deadline. Falls back to TCG. The decision
/// of a probe VM that ran is kept for the host's boot (see `keptDecisionPath`).
///
/// A `/dev/kvm` served by PVM alone is decided without a probe: PVM runs only
/// guest kernels built for it, and under it the probe VM spins a core for the
/// whole timeout, on every daemon start.
struct AcceleratorProbe: Sendable {
    static let marker = "corral-agent: probe ok"

    let configuration: VMDriverConfiguration
    let qemuPath: String?
    let assets: VMBootAssets
    let logger: Logger
    var timeout: Duration = .seconds(10)
    /// Where the host kernel lists its loaded modules.
    var modulesDirectory = "/sys/module"
    /// Names this boot of the host.
    var bootIDPath = "/proc/sys/kernel/random/boot_id"

    /// Whether `/dev/kvm` is PVM's (`kvm_pvm` loaded, neither `kvm_intel` nor
    /// `kvm_amd`): a stock kernel never boots under it.
    var kvmIsPVMOnly: Bool {
        RawFile.exists("\(modulesDirectory)/kvm_pvm")
            && !RawFile.exists("\(modulesDirectory)/kvm_intel") && !RawFile.exists("\(modulesDirectory)/kvm_amd")
    }

    func decide() async -> AcceleratorDecision {
        switch configuration.accelerator {
        case .kvm: return AcceleratorDecision(accelerator: .kvm, reason: "kvm: configured (--vm-accel kvm)")
        case .tcg: return AcceleratorDecision(accelerator: .tcg, reason: "tcg: configured (--vm-accel tcg)")
        case .auto: break
        }
        guard access("/dev/kvm", R_OK | W_OK) == 0 else {
            return AcceleratorDecision(accelerator: .tcg, reason: "tcg: no /dev/kvm")
        }
        if kvmIsPVMOnly {
            return AcceleratorDecision(
                accelerator: .tcg,
                reason: "tcg: /dev/kvm is PVM (kvm_pvm), which runs only kernels built as PVM guests, not the stock kernel; "
                    + "--vm-accel kvm forces KVM for such a kernel"
            )
        }
        guard let qemuPath else {
            return AcceleratorDecision(accelerator: .tcg, reason: "tcg: qemu-system-x86_64 missing, KVM not probed")
        }
        let kernel: VMBootAssets.Kernel
        do throws(CorralError) {
            kernel = try assets.kernel(path: nil)
        } catch {
            return AcceleratorDecision(accelerator: .tcg, reason: "tcg: KVM not probed: \(error.message)")
        }
        let key = keptDecisionKey(qemuPath: qemuPath, kernelPath: kernel.path)
        if let kept = keptDecision(key: key) { return kept }
        let (decision, keep) = await bootProbeVM(qemuPath: qemuPath, kernel: kernel)
        if keep { self.keep(decision, key: key) }
        return decision
    }

    /// Boots the probe VM under KVM. `keep` is false when the VM did not run, so
    /// the outcome says nothing about this host's KVM.
    private func bootProbeVM(qemuPath: String, kernel: VMBootAssets.Kernel) async -> (AcceleratorDecision, keep: Bool) {
        let initramfs: String
        do throws(CorralError) {
            initramfs = try await assets.initramfs(for: kernel)
        } catch {
            return (AcceleratorDecision(accelerator: .tcg, reason: "tcg: KVM not probed: \(error.message)"), false)
        }
        var line = KernelCommandLine.defaults(machine: configuration.machine, accelerator: .kvm, hostTSCKilohertz: nil)
        line["corral.probe"] = "1"
        let command = QEMUCommandLine(
            executable: qemuPath, machine: configuration.machine, accelerator: .kvm, memoryMB: 128, vcpus: 1,
            kernel: kernel.path, initrd: initramfs, kernelCommandLine: line.rendered
        )
        let watcher: DescriptorWatcher
        do {
            watcher = try DescriptorWatcher(name: "corral-vm-probe")
        } catch {
            return (AcceleratorDecision(accelerator: .tcg, reason: "tcg: KVM not probed: \(error)"), false)
        }
        defer { watcher.shutdown() }
        let started = ContinuousClock.now
        let deadline = HostProcess.monotonicNanoseconds() + UInt64(timeout.components.seconds) * 1_000_000_000
        let outcome: HostCommand.Outcome
        do throws(CorralError) {
            outcome = try await HostCommand(executable: qemuPath, arguments: Array(command.arguments.dropFirst()), outputLimit: 1 << 16)
                .run(watcher: watcher, deadline: deadline)
        } catch {
            return (AcceleratorDecision(accelerator: .tcg, reason: "tcg: KVM probe VM did not run: \(error.message)"), false)
        }
        let elapsed = ContinuousClock.now - started
        let output = String(decoding: outcome.stdout, as: UTF8.self)
        if output.contains(Self.marker) {
            let ms = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
            return (AcceleratorDecision(accelerator: .kvm, reason: "kvm: probe VM reached the agent in \(ms) ms"), true)
        }
        if outcome.timedOut {
            let said = output.isEmpty ? "printed nothing" : "did not reach the agent"
            return (AcceleratorDecision(
                accelerator: .tcg,
                reason: "tcg: KVM probe VM \(said) in \(timeout.components.seconds) s (this host's KVM cannot run the stock kernel)"
            ), true)
        }
        let last = (outcome.errorText.isEmpty ? output : outcome.errorText)
            .split(separator: "\n").last.map(String.init) ?? "no output"
        return (AcceleratorDecision(accelerator: .tcg, reason: "tcg: KVM probe VM failed: \(last)"), true)
    }

    // MARK: The decision kept across daemon restarts

    /// Where the last probe's decision is kept: a daemon restarted during the same
    /// host boot, with the same QEMU, kernel and KVM modules, reuses it instead of
    /// booting the probe VM again (up to `timeout` on a host whose KVM hangs).
    var keptDecisionPath: String { "\(configuration.cacheDirectory)/accelerator-probe" }

    /// What a kept decision holds for: the host's boot, its KVM modules, and the
    /// QEMU and kernel files (path, size, modification time, inode).
    func keptDecisionKey(qemuPath: String, kernelPath: String) -> String {
        let boot = (try? RawFile.read(bootIDPath)).map { String(decoding: $0, as: UTF8.self) }?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
        let modules = ["kvm_intel", "kvm_amd", "kvm_pvm"].filter { RawFile.exists("\(modulesDirectory)/\($0)") }
        return "boot=\(boot) modules=\(modules.joined(separator: ",")) qemu=\(Self.identity(qemuPath)) kernel=\(Self.identity(kernelPath))"
    }

    static func identity(_ path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "\(path):missing" }
        return "\(path):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec):\(info.st_ino)"
    }

    /// The kept decision if it was made under `key`.
    func keptDecision(key: String) -> AcceleratorDecision? {
        guard let bytes = try? RawFile.read(keptDecisionPath) else { return nil }
        var fields: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let space = line.firstIndex(of: " ") else { continue }
            fields[String(line[..<space])] = String(line[line.index(after: space)...])
        }
        guard fields["key"] == key, let name = fields["accelerator"], let accelerator = VMAccelerator(rawValue: name),
              let reason = fields["reason"]
        else { return nil }
        return AcceleratorDecision(
            accelerator: accelerator,
            reason: "\(reason) (kept from an earlier probe in this host boot; remove \(keptDecisionPath) to probe again)"
        )
    }

    /// Keeps `decision` under `key`; a failure to write only costs the next daemon a probe.
    func keep(_ decision: AcceleratorDecision, key: String) {
        let text = "key \(key)\naccelerator \(decision.accelerator.rawValue)\nreason \(decision.reason)\n"
        do {
            _ = try FileSystem.makeDirectories(configuration.cacheDirectory)
            try RawFile.writeAtomically(keptDecisionPath, Array(text.utf8), durable: false, mode: 0o644)
        } catch {
            logger.warning("cannot keep the accelerator decision", metadata: ["path": "\(keptDecisionPath)", "error": "\(error)"])
        }
    }
}
