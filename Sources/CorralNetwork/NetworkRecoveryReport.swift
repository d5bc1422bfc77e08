import CorralCore
import Foundation

/// What `BridgeNetwork.recover(liveInstances:)` found and did.
public struct NetworkRecoveryReport: Sendable {
    /// Live instances whose attachment was checked (and repaired where a piece was missing).
    public var kept: [NetworkAttachment] = []
    /// Live VM instances whose tap was checked (and repaired where needed).
    public var keptTaps: [TapAttachment] = []
    /// Instances no longer live whose namespace, veth or tap, and lease were removed.
    public var released: [UUID] = []
    /// Host interfaces (veths, taps) found with Corral's alias but no lease, and
    /// removed (veths with their namespaces).
    public var orphansRemoved: [String] = []
    /// Instances whose attachment could not be kept or removed, with why. They keep
    /// their lease, so a later `recover` or `detach` can finish the work.
    public var failures: [UUID: CorralError] = [:]

    public init() {}
}
