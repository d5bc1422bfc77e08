import CorralShimFormat
import struct Foundation.UUID

/// Where one instance's files live: `<state>/instances/<uuid>/`.
public struct InstancePaths: Sendable {
    public let directory: String

    public init(stateDirectory: String, uuid: UUID) {
        directory = "\(stateDirectory)/instances/\(uuid.uuidString.lowercased())"
    }

    public func file(_ name: String) -> String { "\(directory)/\(name)" }

    public var parameters: String { file(InstanceFileNames.parameters) }
    public var state: String { file(InstanceFileNames.state) }
    public var exit: String { file(InstanceFileNames.exit) }
}
