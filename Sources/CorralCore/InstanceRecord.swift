import struct Foundation.Date
import struct Foundation.UUID

/// An instance as stored: what the user wants (`desired`, written by the API) and
/// what is (`observed`, written only by the reconciler).
public struct InstanceRecord: Codable, Sendable, Equatable {
    public let uuid: UUID
    public var name: String
    public let createdAt: Date
    public var spec: InstanceSpec
    public var desired: DesiredState
    public var observed: ObservedState

    public init(uuid: UUID, name: String, createdAt: Date, spec: InstanceSpec, desired: DesiredState) {
        self.uuid = uuid
        self.name = name
        self.createdAt = createdAt
        self.spec = spec
        self.desired = desired
        self.observed = ObservedState()
    }

    /// The state reported on the wire.
    public var state: InstanceState { observed.phase.wireState }
}

/// What the user asked for. Every API write bumps `generation`.
public struct DesiredState: Codable, Sendable, Equatable {
    public enum Power: String, Codable, Sendable {
        case running
        case stopped
        case suspended
    }

    public var power: Power
    /// Bumped by every explicit start; a start request not yet handled starts the
    /// instance even after it stopped on its own.
    public var startRequest: Int
    /// How the current stop was asked for; meaningful while `power == .stopped`.
    public var stop: StopRequest
    public var deleteRequested: Bool
    public var generation: Int

    public init(power: Power, startRequest: Int = 0, stop: StopRequest = .init(), deleteRequested: Bool = false, generation: Int = 1) {
        self.power = power
        self.startRequest = startRequest
        self.stop = stop
        self.deleteRequested = deleteRequested
        self.generation = generation
    }
}

/// How a stop should go.
public struct StopRequest: Codable, Sendable, Equatable {
    /// How long the workload has between SIGTERM and SIGKILL.
    public var graceMilliseconds: Int?
    /// Skip the grace: kill at once.
    public var force: Bool

    public init(graceMilliseconds: Int? = nil, force: Bool = false) {
        self.graceMilliseconds = graceMilliseconds
        self.force = force
    }
}

/// Where an instance's workload is in its life. The cases carry what is valid in
/// that phase; reach a running instance's handle through `runningHandle()`.
public enum Phase: Codable, Sendable, Equatable {
    /// Nothing runs. The normal resting phase.
    case stopped
    /// A start is in flight.
    case starting
    case running(handle: DriverHandle)
    /// A stop is in flight: SIGTERM sent (unless forced), SIGKILL due at `killAt`.
    case stopping(handle: DriverHandle, killAt: Date, initiator: StopInitiator, killed: Bool)
    /// Frozen in place.
    case standby(handle: DriverHandle)
    /// Host resources are being removed; the record goes when that is done.
    case deleting

    public var wireState: InstanceState {
        switch self {
        case .stopped: .stopped
        case .starting: .starting
        case .running: .running
        case .stopping, .deleting: .stopping
        case .standby: .standby
        }
    }

    /// The driver handle while a workload exists.
    public var handle: DriverHandle? {
        switch self {
        case .running(let handle), .standby(let handle): handle
        case .stopping(let handle, _, _, _): handle
        case .stopped, .starting, .deleting: nil
        }
    }

    /// The handle of a running instance, or an `invalidState` error naming the phase.
    public func runningHandle() throws(CorralError) -> DriverHandle {
        guard case .running(let handle) = self else {
            throw .invalidState("instance is \(wireState.rawValue), not running")
        }
        return handle
    }
}

/// Who asked for a stop; decides the `user` and `platform` bits of the stop reason.
public enum StopInitiator: String, Codable, Sendable {
    case user
    case platform
}

/// An automatic restart sequence in progress.
public struct RestartSequence: Codable, Sendable, Equatable {
    /// Restarts performed in this sequence, counting the one scheduled.
    public var attempt: Int
    public var nextAt: Date

    public init(attempt: Int, nextAt: Date) {
        self.attempt = attempt
        self.nextAt = nextAt
    }
}

/// What the reconciler last saw and did.
public struct ObservedState: Codable, Sendable, Equatable {
    public var phase: Phase = .stopped
    /// The last `desired.generation` the reconciler has acted on.
    public var appliedGeneration: Int = 0
    /// The last `desired.startRequest` the reconciler has acted on.
    public var handledStartRequest: Int = 0
    public var startCount: Int = 0
    public var restartCount: Int = 0
    public var startedAt: Date?
    public var stoppedAt: Date?
    public var bootTimeMicroseconds: Int64?
    public var lastExit: ExitStatus?
    public var stopReason: StopReason?
    public var restart: RestartSequence?
    /// The latest human-readable note: why it stopped, why a start failed.
    public var message: String?

    public init() {}
}
