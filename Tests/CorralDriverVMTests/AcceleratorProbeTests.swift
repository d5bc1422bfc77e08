import CorralCore
import CorralHost
import CorralShimFormat
import CorralTestSupport
import Foundation
import Logging
import Testing

@testable import CorralDriverVM

#if canImport(Glibc)
import Glibc
#endif

/// The `auto` accelerator decision: PVM recognised without a boot, and the probe
/// VM itself, which must decide within its timeout and leave no QEMU behind.
@Suite(.serialized)
struct AcceleratorProbeTests {
    private func probe(_ fixture: VMFixture, modules: String, timeout: Duration = .seconds(10)) -> AcceleratorProbe {
        let qemu = VMTestHost.qemu
        let assets = VMBootAssets(
            configuration: fixture.configuration, qemuImgPath: nil, mkfsPath: ExecutableLookup.resolve("mkfs.ext4")
        )
        var probe = AcceleratorProbe(
            configuration: fixture.configuration, qemuPath: qemu, assets: assets, logger: Logger(label: "corral.test.probe")
        )
        probe.timeout = timeout
        probe.modulesDirectory = modules
        return probe
    }

    private func modules(_ scratch: ScratchDirectory, _ names: [String]) throws -> String {
        let directory = "\(scratch.path)/modules-\(names.joined(separator: "-"))"
        for name in names {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(name)", withIntermediateDirectories: true)
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func aPVMOnlyKVMIsDecidedWithoutBootingAndAStockOneIsNotMistakenForIt() async throws {
        if access("/dev/kvm", R_OK | W_OK) != 0 {
            print("skipped: no usable /dev/kvm, so the decision never looks at its modules")
            return
        }
        try await VMFixture.run { fixture in
            let pvm = probe(fixture, modules: try modules(fixture.scratch, ["kvm", "kvm_pvm"]))
            #expect(pvm.kvmIsPVMOnly)
            let decision = await pvm.decide()
            #expect(decision.accelerator == .tcg)
            #expect(decision.reason.contains("/dev/kvm is PVM"), "decided without a probe VM: \(decision.reason)")

            #expect(!probe(fixture, modules: try modules(fixture.scratch, ["kvm", "kvm_intel", "kvm_pvm"])).kvmIsPVMOnly)
            #expect(!probe(fixture, modules: try modules(fixture.scratch, ["kvm", "kvm_amd"])).kvmIsPVMOnly)
            #expect(!probe(fixture, modules: try modules(fixture.scratch, [])).kvmIsPVMOnly)
        }
    }

    @Test func theProbeVMDecidesWithinItsTimeoutAndLeavesNoQEMU() async throws {
        if VMTestHost.skip(VMTestHost.missingBoot) { return }
        if access("/dev/kvm", R_OK | W_OK) != 0 {
            print("skipped: no usable /dev/kvm to probe")
            return
        }
        try await VMFixture.run { fixture in
            // No PVM module listed: the probe VM boots whatever this KVM is.
            let probe = probe(fixture, modules: try modules(fixture.scratch, ["kvm"]), timeout: .seconds(3))
            let started = ContinuousClock.now
            let decision = await probe.decide()
            print("probe: \(decision.reason) after \(ContinuousClock.now - started)")
            // Generous for a loaded host: a probe VM not killed at its deadline runs for minutes.
            #expect(ContinuousClock.now - started < .seconds(30), "the probe VM is killed at its deadline")
            switch decision.accelerator {
            case .kvm: #expect(decision.reason.hasPrefix("kvm: probe VM reached the agent"), "\(decision.reason)")
            case .tcg: #expect(decision.reason.hasPrefix("tcg: KVM probe VM"), "\(decision.reason)")
            }
            #expect(!VMFixture.processRunning(mentioning: fixture.stateDirectory), "the probe VM is gone")

            // A restarted daemon (another probe over the same state) reuses the decision.
            let again = await probe.decide()
            #expect(again.accelerator == decision.accelerator)
            #expect(again.reason.hasPrefix("\(decision.reason) (kept from an earlier probe in this host boot"), "\(again.reason)")
        }
    }

    @Test func aKeptDecisionHoldsOnlyForItsBootModulesQEMUAndKernel() async throws {
        try await VMFixture.run { fixture in
            let bootID = "\(fixture.scratch.path)/boot_id"
            try "1111\n".write(toFile: bootID, atomically: true, encoding: .utf8)
            var probe = probe(fixture, modules: try modules(fixture.scratch, ["kvm", "kvm_intel"]))
            probe.bootIDPath = bootID
            let qemu = "\(fixture.scratch.path)/qemu"
            let kernel = "\(fixture.scratch.path)/kernel"
            try RawFile.writeAtomically(qemu, [1, 2, 3], durable: false, mode: 0o755)
            try RawFile.writeAtomically(kernel, [4, 5, 6], durable: false)

            let key = probe.keptDecisionKey(qemuPath: qemu, kernelPath: kernel)
            #expect(probe.keptDecision(key: key) == nil, "nothing kept yet")
            let decision = AcceleratorDecision(accelerator: .kvm, reason: "kvm: probe VM reached the agent in 180 ms")
            probe.keep(decision, key: key)
            #expect(probe.keptDecision(key: key)?.accelerator == .kvm)
            #expect(probe.keptDecision(key: key)?.reason.hasPrefix(decision.reason) == true)

            try RawFile.writeAtomically(qemu, [1, 2, 3, 4], durable: false, mode: 0o755)
            #expect(probe.keptDecisionKey(qemuPath: qemu, kernelPath: kernel) != key, "another QEMU")
            try "2222\n".write(toFile: bootID, atomically: true, encoding: .utf8)
            let rebooted = probe.keptDecisionKey(qemuPath: qemu, kernelPath: kernel)
            #expect(probe.keptDecision(key: rebooted) == nil, "another boot")
            probe.modulesDirectory = try modules(fixture.scratch, ["kvm", "kvm_amd"])
            #expect(probe.keptDecisionKey(qemuPath: qemu, kernelPath: kernel) != rebooted, "other KVM modules")
        }
    }
}
