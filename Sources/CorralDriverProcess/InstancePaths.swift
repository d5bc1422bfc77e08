import CorralShimFormat
import struct Foundation.UUID

/// Where one instance's files live: `<state>/instances/<uuid>/`.
struct InstancePaths: Sendable {
    let directory: String

    init(stateDirectory: String, uuid: UUID) {
        directory = "\(stateDirectory)/instances/\(uuid.uuidString.lowercased())"
    }

    func file(_ name: String) -> String { "\(directory)/\(name)" }

    var parameters: String { file(InstanceFileNames.parameters) }
    var state: String { file(InstanceFileNames.state) }
    var exit: String { file(InstanceFileNames.exit) }
}
