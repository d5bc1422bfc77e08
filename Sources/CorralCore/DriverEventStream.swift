import struct Foundation.UUID

/// A workload's exit as reported by its driver.
public struct DriverExit: Sendable, Equatable {
    public var uuid: UUID
    public var status: ExitStatus

    public init(uuid: UUID, status: ExitStatus) {
        self.uuid = uuid
        self.status = status
    }
}

/// The sink drivers report into, read by the engine as one stream. Created by the
/// composition root before both, which breaks the engine ↔ driver cycle.
public final class DriverEventStream: DriverEventSink {
    public let exits: AsyncStream<DriverExit>
    private let continuation: AsyncStream<DriverExit>.Continuation

    public init() {
        (exits, continuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    public func instanceExited(_ uuid: UUID, status: ExitStatus) {
        continuation.yield(DriverExit(uuid: uuid, status: status))
    }

    /// Ends the stream; for shutdown.
    public func finish() {
        continuation.finish()
    }
}
