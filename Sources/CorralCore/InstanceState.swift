/// The states an instance reports on the wire: exactly Unikraft Cloud's.
///
/// Phases the wire lacks (creating, failed, frozen) are reported through
/// `message`, `stop_reason` and extension fields, never as new cases here.
public enum InstanceState: String, Codable, Sendable, CaseIterable {
    case stopped
    case starting
    case running
    case draining
    case stopping
    case standby
    case template
    case checkpoint
    case deleted
}

/// When an instance that stopped on its own is started again.
public enum RestartPolicy: String, Codable, Sendable, CaseIterable {
    /// Never restart (the default).
    case never
    /// Restart whenever the stop came from inside the instance (exit or crash).
    case always
    /// Restart only when the workload failed: a non-zero exit code or a signal.
    case onFailure = "on-failure"
}

/// Optional behaviours of an instance, named as on the wire.
public enum InstanceFeature: String, Codable, Sendable, CaseIterable {
    /// The instance is deleted as soon as it has stopped for good.
    case deleteOnStop = "delete-on-stop"
}
