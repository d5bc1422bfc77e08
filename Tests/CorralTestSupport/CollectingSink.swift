import CorralCore
import Foundation
import Synchronization

/// Records every exit a driver reports, for the driver test suites.
public final class CollectingSink: DriverEventSink {
    private let exits = Mutex<[UUID: [ExitStatus]]>([:])

    public init() {}

    public func instanceExited(_ uuid: UUID, status: ExitStatus) {
        exits.withLock { $0[uuid, default: []].append(status) }
    }

    public func reported(_ uuid: UUID) -> [ExitStatus] {
        exits.withLock { $0[uuid] ?? [] }
    }

    /// The `number`th exit reported for `uuid` (1: the first), waiting up to `timeout`.
    public func waitForExit(_ uuid: UUID, number: Int = 1, timeout: Duration = .seconds(10)) async -> ExitStatus? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let exits = reported(uuid)
            if exits.count >= number { return exits[number - 1] }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return nil
    }
}
