import CorralCore

extension InstanceCgroup {
    /// Freezes every process of a running instance for `suspend`; returns once the
    /// kernel reports the cgroup frozen.
    ///
    /// - Parameters:
    ///   - handle: the instance's handle; its supervisor must be alive.
    ///   - freezerAvailable: whether the host has a freezer (the driver's `.freeze`).
    ///   - driver: the driver's name, for messages.
    public func suspend(handle: DriverHandle, freezerAvailable: Bool, driver: String) async throws(CorralError) {
        try requireFreezer(freezerAvailable, driver: driver, verb: "suspend")
        guard HostProcess.isAlive(pid: handle.shimPID, startTime: handle.shimStartTime) else {
            throw .invalidState("failed to suspend instance: it is not running")
        }
        try await freeze()
    }

    /// Thaws a suspended instance. Thawing one that is not frozen is a no-op.
    public func resume(freezerAvailable: Bool, driver: String) throws(CorralError) {
        try requireFreezer(freezerAvailable, driver: driver, verb: "resume")
        try thaw()
        if isFrozen() { throw .internal("failed to resume instance: the cgroup still reads frozen") }
    }

    private func requireFreezer(_ available: Bool, driver: String, verb: String) throws(CorralError) {
        guard available else {
            throw .unsupported("failed to \(verb) instance: the \(driver) driver has no cgroup freezer on this host")
        }
        guard exists else { throw .invalidState("failed to \(verb) instance: it is not running") }
    }
}
