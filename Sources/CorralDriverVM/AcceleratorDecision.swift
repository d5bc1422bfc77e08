/// The accelerator the driver uses and why, decided once per driver.
public struct AcceleratorDecision: Sendable, Equatable {
    public var accelerator: VMAccelerator
    /// One line for `corral doctor`: `kvm: probe VM reached the agent in 180 ms`.
    public var reason: String

    public init(accelerator: VMAccelerator, reason: String) {
        self.accelerator = accelerator
        self.reason = reason
    }
}
