import CorralCore
import CorralHost
import CorralShimFormat
import Foundation
import Logging

/// Decides the accelerator: the configured one, or for `auto` a tiny probe VM
/// (the same kernel and initramfs, `corral.probe=1`, no disks) under KVM that
/// must print the agent's probe line within `timeout`; silence counts as
/// failure (a KVM that cannot run the stock kernel prints nothing for minutes),
/// and the probe VM is killed at the deadline. Falls back to TCG.
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
        let initramfs: String
        do throws(CorralError) {
            kernel = try assets.kernel(path: nil)
            initramfs = try await assets.initramfs(for: kernel)
        } catch {
            return AcceleratorDecision(accelerator: .tcg, reason: "tcg: KVM not probed: \(error.message)")
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
            return AcceleratorDecision(accelerator: .tcg, reason: "tcg: KVM not probed: \(error)")
        }
        defer { watcher.shutdown() }
        let started = ContinuousClock.now
        let deadline = HostProcess.monotonicNanoseconds() + UInt64(timeout.components.seconds) * 1_000_000_000
        let outcome: HostCommand.Outcome
        do throws(CorralError) {
            outcome = try await HostCommand(executable: qemuPath, arguments: Array(command.arguments.dropFirst()), outputLimit: 1 << 16)
                .run(watcher: watcher, deadline: deadline)
        } catch {
            return AcceleratorDecision(accelerator: .tcg, reason: "tcg: KVM probe VM did not run: \(error.message)")
        }
        let elapsed = ContinuousClock.now - started
        let output = String(decoding: outcome.stdout, as: UTF8.self)
        if output.contains(Self.marker) {
            let ms = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
            return AcceleratorDecision(accelerator: .kvm, reason: "kvm: probe VM reached the agent in \(ms) ms")
        }
        if outcome.timedOut {
            let said = output.isEmpty ? "printed nothing" : "did not reach the agent"
            return AcceleratorDecision(
                accelerator: .tcg,
                reason: "tcg: KVM probe VM \(said) in \(timeout.components.seconds) s (this host's KVM cannot run the stock kernel)"
            )
        }
        let last = (outcome.errorText.isEmpty ? output : outcome.errorText)
            .split(separator: "\n").last.map(String.init) ?? "no output"
        return AcceleratorDecision(accelerator: .tcg, reason: "tcg: KVM probe VM failed: \(last)")
    }
}
