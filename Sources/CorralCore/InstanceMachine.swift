import struct Foundation.Date

/// Something that happened to an instance, fed to the machine.
public enum InstanceEvent: Sendable, Equatable {
    /// Desired state changed, a timer fired, or the daemon restarted: look again.
    case reconcile
    case started(StartedInstance)
    case startFailed(String)
    case exited(ExitStatus)
    /// What re-attaching after a daemon restart found.
    case adopted(AdoptionResult)
    /// The daemon restarted while a start was in flight.
    case startInterrupted
    /// Every host resource is gone; the record may go too.
    case destroyed
    /// A driver call other than start failed.
    case actionFailed(String)
}

/// What the caller must do after a step. The machine does no I/O.
public enum InstanceAction: Sendable, Equatable {
    case start
    case terminate(DriverHandle)
    case kill(DriverHandle)
    case freeze(DriverHandle)
    case thaw(DriverHandle)
    /// Release host resources of an ended workload (cgroup, runtime files), keep the log.
    case cleanup
    /// Remove everything the instance has on the host, then feed `.destroyed`.
    case destroy
    /// Feed `.reconcile` at this time.
    case wake(at: Date)
}

/// The outcome of a step: the record to persist (nil: delete it) and the actions.
public struct InstanceTransition: Sendable, Equatable {
    public var record: InstanceRecord?
    public var actions: [InstanceAction]

    public init(record: InstanceRecord?, actions: [InstanceAction]) {
        self.record = record
        self.actions = actions
    }
}

/// The pure transition machine of an instance: (record, event, now) → (record, actions).
///
/// Every event is applied and then followed by a reconcile pass, so the result
/// always moves the instance towards its desired state. Reconciling a settled
/// record yields no actions besides pending wake-ups, so it is safe to repeat.
public struct InstanceMachine: Sendable {
    /// The grace between SIGTERM and SIGKILL when a stop names none.
    public var defaultGraceMilliseconds: Int
    /// How soon a failed cleanup or destroy is tried again.
    public var retryAfterSeconds: Double

    public init(defaultGraceMilliseconds: Int = 10_000, retryAfterSeconds: Double = 5) {
        self.defaultGraceMilliseconds = defaultGraceMilliseconds
        self.retryAfterSeconds = retryAfterSeconds
    }

    public func step(_ record: InstanceRecord, _ event: InstanceEvent, now: Date) -> InstanceTransition {
        var r = record
        var actions: [InstanceAction] = []

        switch event {
        case .reconcile:
            break

        case .started(let started):
            guard case .starting = r.observed.phase else {
                // A start result for an instance no longer starting: undo it.
                actions.append(.kill(started.handle))
                return InstanceTransition(record: r, actions: actions)
            }
            r.observed.phase = .running(handle: started.handle)
            r.observed.startCount += 1
            if r.observed.restart != nil { r.observed.restartCount += 1 }
            r.observed.startedAt = now
            r.observed.bootTimeMicroseconds = started.bootTimeMicroseconds
            r.observed.message = nil
            r.observed.stopReason = nil
            r.observed.lastExit = nil

        case .startFailed(let message):
            // A late result for a start that is no longer in flight changes nothing.
            guard case .starting = r.observed.phase else { break }
            r.observed.phase = .stopped
            r.observed.stoppedAt = now
            r.observed.message = "failed to start instance: \(message)"
            r.observed.stopReason = StopReason()
            // The instance never ran, so a failed start never counts as a healthy run.
            if let restart = nextRestart(r, failed: true, ranSeconds: 0, now: now) {
                r.observed.restart = restart
            } else {
                r.observed.restart = nil
            }

        case .exited(let status):
            applyExit(&r, status: status, now: now, actions: &actions)

        case .adopted(let result):
            switch result {
            case .running(let handle):
                switch r.observed.phase {
                case .stopping(_, let killAt, let initiator, let killed):
                    r.observed.phase = .stopping(handle: handle, killAt: killAt, initiator: initiator, killed: killed)
                case .standby:
                    r.observed.phase = .standby(handle: handle)
                default:
                    r.observed.phase = .running(handle: handle)
                }
            case .exited(let status):
                applyExit(&r, status: status, now: now, actions: &actions)
            case .lost(let reason):
                var selfInitiated = true
                if case .stopping = r.observed.phase { selfInitiated = false }
                let ranSeconds = r.observed.startedAt.map { now.timeIntervalSince($0) } ?? 0
                r.observed.phase = .stopped
                r.observed.stoppedAt = now
                r.observed.stopReason = StopReason()
                r.observed.message = "instance lost while the daemon was down: \(reason)"
                actions.append(.cleanup)
                // Nobody recorded how it ended: treated as a failure.
                settleAfterEnd(&r, selfInitiated: selfInitiated, failed: true, ranSeconds: ranSeconds, now: now)
            }

        case .startInterrupted:
            guard case .starting = r.observed.phase else { break }
            // Whatever the interrupted start left is removed first; then the start
            // is made again if it is still wanted.
            actions.append(.cleanup)
            if r.desired.power == .running && !r.desired.deleteRequested {
                r.observed.phase = .starting
                actions.append(.start)
                r.observed.appliedGeneration = r.desired.generation
                return InstanceTransition(record: r, actions: actions)
            }
            r.observed.phase = .stopped

        case .destroyed:
            return InstanceTransition(record: nil, actions: [])

        case .actionFailed(let message):
            r.observed.message = message
            switch r.observed.phase {
            case .deleting:
                actions.append(.wake(at: now.addingTimeInterval(retryAfterSeconds)))
                return InstanceTransition(record: r, actions: actions)
            case .stopping(let handle, _, let initiator, true):
                // The kill did not go through: the workload may still run, and no
                // exit will come. Kill again after the retry delay.
                r.observed.phase = .stopping(
                    handle: handle, killAt: now.addingTimeInterval(retryAfterSeconds), initiator: initiator, killed: false
                )
            default:
                break
            }
        }

        reconcile(&r, now: now, actions: &actions)
        r.observed.appliedGeneration = r.desired.generation
        return InstanceTransition(record: r, actions: actions)
    }

    // MARK: - Reconcile

    private func reconcile(_ r: inout InstanceRecord, now: Date, actions: inout [InstanceAction]) {
        let desired = r.desired
        switch r.observed.phase {
        case .stopped:
            if desired.deleteRequested {
                r.observed.phase = .deleting
                actions.append(.destroy)
                return
            }
            guard desired.power == .running else {
                // A manual stop ends any restart sequence.
                r.observed.restart = nil
                r.observed.handledStartRequest = desired.startRequest
                return
            }
            if desired.startRequest > r.observed.handledStartRequest {
                // A manual start aborts the restart sequence and resets the back-off.
                r.observed.handledStartRequest = desired.startRequest
                r.observed.restart = nil
                r.observed.phase = .starting
                actions.append(.start)
            } else if let restart = r.observed.restart {
                if restart.nextAt <= now {
                    r.observed.phase = .starting
                    actions.append(.start)
                } else {
                    actions.append(.wake(at: restart.nextAt))
                }
            }

        case .starting:
            // Only the caller leaves this phase, by feeding the start's result.
            break

        case .running(let handle):
            if desired.deleteRequested {
                r.observed.phase = .stopping(handle: handle, killAt: now, initiator: .user, killed: true)
                r.observed.restart = nil
                actions.append(.kill(handle))
            } else if desired.power == .stopped {
                beginStop(&r, handle: handle, now: now, actions: &actions)
            } else if desired.power == .suspended {
                r.observed.phase = .standby(handle: handle)
                actions.append(.freeze(handle))
            } else {
                r.observed.handledStartRequest = desired.startRequest
                if let restart = r.observed.restart, let startedAt = r.observed.startedAt {
                    let healthyAt = startedAt.addingTimeInterval(RestartBackoff.healthyAfterSeconds)
                    if healthyAt <= now {
                        r.observed.restart = nil
                    } else if restart.nextAt < healthyAt {
                        actions.append(.wake(at: healthyAt))
                    }
                }
            }

        case .stopping(let handle, let killAt, let initiator, let killed):
            if desired.deleteRequested && !killed {
                r.observed.phase = .stopping(handle: handle, killAt: now, initiator: initiator, killed: true)
                actions.append(.kill(handle))
            } else if !killed {
                if killAt <= now {
                    r.observed.phase = .stopping(handle: handle, killAt: killAt, initiator: initiator, killed: true)
                    actions.append(.kill(handle))
                } else {
                    actions.append(.wake(at: killAt))
                }
            }

        case .standby(let handle):
            if desired.deleteRequested {
                r.observed.phase = .stopping(handle: handle, killAt: now, initiator: .user, killed: true)
                actions.append(.kill(handle))
            } else if desired.power == .running {
                r.observed.phase = .running(handle: handle)
                r.observed.handledStartRequest = desired.startRequest
                actions.append(.thaw(handle))
            } else if desired.power == .stopped {
                // A frozen process cannot act on SIGTERM: thaw first.
                actions.append(.thaw(handle))
                beginStop(&r, handle: handle, now: now, actions: &actions)
            }

        case .deleting:
            actions.append(.destroy)
        }
    }

    private func beginStop(_ r: inout InstanceRecord, handle: DriverHandle, now: Date, actions: inout [InstanceAction]) {
        r.observed.restart = nil
        r.observed.handledStartRequest = r.desired.startRequest
        if r.desired.stop.force {
            r.observed.phase = .stopping(handle: handle, killAt: now, initiator: .user, killed: true)
            actions.append(.kill(handle))
        } else {
            let grace = r.desired.stop.graceMilliseconds ?? defaultGraceMilliseconds
            let killAt = now.addingTimeInterval(Double(grace) / 1000)
            r.observed.phase = .stopping(handle: handle, killAt: killAt, initiator: .user, killed: false)
            actions.append(.terminate(handle))
            actions.append(.wake(at: killAt))
        }
    }

    // MARK: - Exit

    private func applyExit(_ r: inout InstanceRecord, status: ExitStatus, now: Date, actions: inout [InstanceAction]) {
        switch r.observed.phase {
        case .stopped, .deleting:
            // No workload is recorded: a duplicate or late report of an exit
            // already handled, not a new crash.
            return
        case .starting, .running, .stopping, .standby:
            break
        }
        var reason: StopReason
        var selfInitiated = false
        switch r.observed.phase {
        case .stopping(_, _, let initiator, let killed):
            reason = initiator == .user ? [.user, .platform] : [.platform]
            if r.desired.stop.force || r.desired.deleteRequested {
                reason = [.forced, .user, .platform]
            } else if killed {
                reason.insert(.kernel)
            } else {
                reason.formUnion([.app, .kernel])
            }
        default:
            selfInitiated = true
            reason = status.code != nil && !status.oomKilled ? [.app, .kernel] : [.kernel]
        }

        r.observed.phase = .stopped
        r.observed.stoppedAt = now
        r.observed.lastExit = status
        r.observed.stopReason = reason
        r.observed.message = status.oomKilled
            ? "killed by the kernel: out of memory (memory limit \(r.spec.memoryMB) MiB)"
            : status.summary
        actions.append(.cleanup)

        let ranSeconds = r.observed.startedAt.map { now.timeIntervalSince($0) } ?? 0
        settleAfterEnd(&r, selfInitiated: selfInitiated, failed: status.failed, ranSeconds: ranSeconds, now: now)
    }

    /// What follows the end of a workload: the restart its policy asks for, or else
    /// the deletion of a delete-on-stop instance (the reconcile pass issues `.destroy`).
    private func settleAfterEnd(_ r: inout InstanceRecord, selfInitiated: Bool, failed: Bool, ranSeconds: Double, now: Date) {
        if selfInitiated, !r.desired.deleteRequested, r.desired.power == .running,
           let restart = nextRestart(r, failed: failed, ranSeconds: ranSeconds, now: now) {
            r.observed.restart = restart
            return
        }
        r.observed.restart = nil
        if r.spec.deleteOnStop && !r.desired.deleteRequested {
            r.observed.phase = .deleting
        }
    }

    /// The next restart of a sequence, or nil when the policy says the instance stays
    /// down. A run of `ranSeconds` of at least `RestartBackoff.healthyAfterSeconds`
    /// starts a new sequence.
    private func nextRestart(_ r: InstanceRecord, failed: Bool, ranSeconds: Double, now: Date) -> RestartSequence? {
        switch r.spec.restartPolicy {
        case .never: return nil
        case .onFailure where !failed: return nil
        case .always, .onFailure: break
        }
        var attempt = 1
        if let previous = r.observed.restart {
            attempt = ranSeconds >= RestartBackoff.healthyAfterSeconds ? 1 : previous.attempt + 1
        }
        let delay = RestartBackoff.delaySeconds(attempt: attempt)
        return RestartSequence(attempt: attempt, nextAt: now.addingTimeInterval(delay))
    }
}
