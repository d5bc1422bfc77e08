import CorralAPI
import CorralCore
import Foundation

extension InstanceRecord {
    /// The instance as Unikraft Cloud reports it, plus Corral's `driver` and `pid`.
    func wire(now: Date = Date(), details: Bool = true) -> InstanceDTO {
        var dto = InstanceDTO()
        dto.uuid = uuid.uuidString.lowercased()
        dto.name = name
        dto.state = WireInstanceState(rawValue: state.rawValue)
        guard details else { return dto }
        dto.createdAt = WireDate.format(createdAt)
        dto.image = spec.image
        dto.memoryMB = spec.memoryMB
        dto.vcpus = spec.vcpus
        dto.args = spec.args
        dto.env = spec.env
        dto.startCount = observed.startCount
        dto.restartCount = observed.restartCount
        dto.startedAt = observed.startedAt.map(WireDate.format)
        dto.stoppedAt = observed.stoppedAt.map(WireDate.format)
        if case .running = observed.phase, let startedAt = observed.startedAt {
            dto.uptimeMs = max(0, Int(now.timeIntervalSince(startedAt) * 1000))
        } else {
            dto.uptimeMs = 0
        }
        dto.bootTimeUs = observed.bootTimeMicroseconds.map { Int($0) }
        dto.stopReason = observed.stopReason?.rawValue
        if let exit = observed.lastExit {
            dto.exitCode = exit.code.map { Int($0) }
            dto.stopCode = exit.signal.map { Int($0) }
        }
        dto.restartPolicy = WireRestartPolicy(rawValue: spec.restartPolicy.rawValue)
        if let restart = observed.restart {
            dto.restart = .init(attempt: restart.attempt, nextAt: WireDate.format(restart.nextAt))
        }
        dto.tags = spec.tags
        dto.annotations = spec.annotations
        dto.deleteLock = spec.deleteLock
        dto.features = spec.features.compactMap { WireInstanceFeature(rawValue: $0.rawValue) }
        dto.message = observed.message
        dto.driver = spec.driver
        dto.pid = observed.phase.handle.map { Int($0.workloadPID) }
        if let handle = observed.phase.handle, let ip = handle.attributes["ip"] {
            dto.privateIP = ip
            dto.networkInterfaces = [.init(name: "eth0", privateIP: ip, mac: handle.attributes["mac"])]
        }
        dto.ports = spec.ports.isEmpty ? nil : spec.ports.map(\.description)
        return dto
    }

    func stateChange(previous: InstanceState) -> InstanceStateChangeDTO {
        InstanceStateChangeDTO(
            status: .success,
            uuid: uuid.uuidString.lowercased(),
            name: name,
            state: WireInstanceState(rawValue: state.rawValue),
            previousState: WireInstanceState(rawValue: previous.rawValue)
        )
    }
}

extension CorralError {
    /// A failed batch item answering for `reference`.
    func item<Item: FailableItem>(_: Item.Type, reference: NameOrUUID?) -> Item {
        Item.failed(
            uuid: reference?.uuid,
            name: reference?.name,
            message: description,
            error: ErrorMapping.itemCode(for: code)
        )
    }
}

/// A failed item whose answer says more than the error alone (the state reached
/// when a wait ran out, say).
struct ItemFailure<Item: FailableItem>: Error {
    var item: Item
    var error: CorralError
}

/// Per-item answers that can report a failure.
protocol FailableItem: BatchItemResult {
    static func failed(uuid: String?, name: String?, message: String, error: Int?) -> Self
}

extension InstanceDTO: FailableItem {
    static func failed(uuid: String?, name: String?, message: String, error: Int?) -> InstanceDTO {
        var dto = InstanceDTO()
        dto.status = .error
        dto.uuid = uuid
        dto.name = name
        dto.message = message
        dto.error = error
        return dto
    }
}

extension InstanceStateChangeDTO: FailableItem {
    static func failed(uuid: String?, name: String?, message: String, error: Int?) -> InstanceStateChangeDTO {
        InstanceStateChangeDTO(status: .error, message: message, error: error, uuid: uuid, name: name)
    }
}

extension WaitedInstanceDTO: FailableItem {
    static func failed(uuid: String?, name: String?, message: String, error: Int?) -> WaitedInstanceDTO {
        WaitedInstanceDTO(status: .error, message: message, error: error, uuid: uuid, name: name)
    }
}

extension InstanceLogsDTO: FailableItem {
    static func failed(uuid: String?, name: String?, message: String, error: Int?) -> InstanceLogsDTO {
        InstanceLogsDTO(status: .error, message: message, error: error, uuid: uuid, name: name)
    }
}

extension InstanceMetricsDTO: FailableItem {
    static func failed(uuid: String?, name: String?, message: String, error: Int?) -> InstanceMetricsDTO {
        var dto = InstanceMetricsDTO()
        dto.status = .error
        dto.message = message
        dto.error = error
        dto.uuid = uuid
        dto.name = name
        return dto
    }
}

extension UpdatedInstanceDTO: FailableItem {
    static func failed(uuid: String?, name: String?, message: String, error: Int?) -> UpdatedInstanceDTO {
        UpdatedInstanceDTO(status: .error, message: message, error: error, uuid: uuid, name: name)
    }
}
