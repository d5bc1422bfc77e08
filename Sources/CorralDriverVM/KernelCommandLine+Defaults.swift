import CorralHost

extension KernelCommandLine {
    /// The driver's defaults for every VM: the serial console as the log, a panic
    /// or reboot ends QEMU at once (`-no-reboot`; a triple fault needs no keyboard
    /// controller or ACPI), and under TCG on microvm the TSC frequency, which the
    /// guest cannot calibrate without a PIT (`tsc: Unable to calibrate against PIT`).
    static func defaults(machine: VMMachine, accelerator: VMAccelerator, hostTSCKilohertz: Int?) -> KernelCommandLine {
        var line = KernelCommandLine([("console", "ttyS0"), ("panic", "-1"), ("reboot", "t")])
        if machine == .microvm, accelerator == .tcg, let khz = hostTSCKilohertz {
            line["tsc_early_khz"] = String(khz)
        }
        return line
    }

    /// The host CPU's clock in kHz, from `/proc/cpuinfo`; nil when it does not say.
    static func hostTSCKilohertz() -> Int? {
        guard let text = try? FileSystem.readText("/proc/cpuinfo") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("cpu MHz") {
            guard let colon = line.firstIndex(of: ":"),
                  let mhz = Double(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            else { continue }
            return Int((mhz * 1000).rounded())
        }
        return nil
    }
}
