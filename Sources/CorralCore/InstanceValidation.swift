/// Limits an instance spec must fit; set by the daemon's configuration.
public struct InstanceLimits: Sendable, Equatable {
    public var memoryMB: ClosedRange<Int>
    public var vcpus: ClosedRange<Int>
    public var defaultMemoryMB: Int
    public var defaultVCPUs: Int

    public init(
        memoryMB: ClosedRange<Int> = 4...65_536,
        vcpus: ClosedRange<Int> = 1...64,
        defaultMemoryMB: Int = 128,
        defaultVCPUs: Int = 1
    ) {
        self.memoryMB = memoryMB
        self.vcpus = vcpus
        self.defaultMemoryMB = defaultMemoryMB
        self.defaultVCPUs = defaultVCPUs
    }
}

/// Checks that hold for every driver. Each error names the field and the reason.
public enum InstanceValidation {
    /// Instance names are DNS labels: 1–63 characters of `a-z`, `0-9` and `-`,
    /// starting and ending with a letter or digit.
    public static func validateName(_ name: String, field: String = "name") throws(CorralError) {
        guard !name.isEmpty else {
            throw .invalidArgument("invalid \(field): must not be empty")
        }
        guard name.utf8.count <= 63 else {
            throw .invalidArgument("invalid \(field) '\(name)': longer than 63 characters")
        }
        for byte in name.utf8 {
            let ok = (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D
            guard ok else {
                throw .invalidArgument(
                    "invalid \(field) '\(name)': only lowercase letters, digits and '-' are allowed"
                )
            }
        }
        guard name.first != "-", name.last != "-" else {
            throw .invalidArgument("invalid \(field) '\(name)': must start and end with a letter or digit")
        }
    }

    public static func validate(_ spec: InstanceSpec, limits: InstanceLimits) throws(CorralError) {
        guard limits.memoryMB.contains(spec.memoryMB) else {
            throw .invalidArgument(
                "invalid memory_mb \(spec.memoryMB): must be between \(limits.memoryMB.lowerBound) and \(limits.memoryMB.upperBound)"
            )
        }
        guard limits.vcpus.contains(spec.vcpus) else {
            throw .invalidArgument(
                "invalid vcpus \(spec.vcpus): must be between \(limits.vcpus.lowerBound) and \(limits.vcpus.upperBound)"
            )
        }
        for key in spec.env.keys {
            guard !key.isEmpty, !key.contains("="), !key.utf8.contains(0) else {
                throw .invalidArgument("invalid env key '\(key)': must be non-empty without '=' or NUL")
            }
        }
        for value in spec.env.values where value.utf8.contains(0) {
            throw .invalidArgument("invalid env value: must not contain NUL")
        }
        for arg in spec.args where arg.utf8.contains(0) {
            throw .invalidArgument("invalid args: an argument contains NUL")
        }
        if spec.deleteOnStop && spec.restartPolicy != .never {
            throw .invalidArgument(
                "invalid features: delete-on-stop cannot be combined with restart_policy \(spec.restartPolicy.rawValue)"
            )
        }
    }
}
