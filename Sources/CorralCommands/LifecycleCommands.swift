import ArgumentParser
import CorralAPI
import CorralClient

/// `corral start`: start stopped instances.
struct StartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start instances.",
        discussion: "Several instances are started in one batch request; each failure is reported by name.")

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for the instances to run (default: do not wait).", valueName: "seconds"))
    var timeout: Int?

    @Argument(help: "Instance names or UUIDs.")
    var instances: [String]

    func validate() throws {
        if instances.isEmpty { throw ValidationError("name at least one instance") }
        if let timeout, timeout < 0 { throw ValidationError("--timeout must not be negative") }
    }

    func run() async throws {
        let client = try global.makeClient()
        let body = StartInstanceRequestBody(timeoutS: timeout)
        if instances.count == 1 {
            let result = try await client.startInstance(instances[0], body)
            try reportBatch([result], requested: instances, json: global.json)
        } else {
            let items = instances.map { StartInstancesRequestItem(reference($0), body: body) }
            try reportBatch(try await client.startInstances(items), requested: instances, json: global.json)
        }
    }
}

/// `corral stop`: stop instances and wait until they have stopped.
struct StopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Stop instances.",
        discussion: "Waits until each instance has stopped unless --no-wait.")

    @OptionGroup var global: GlobalOptions

    @Flag(name: [.short, .long], help: "Kill at once instead of asking the workload to shut down.")
    var force = false

    @Option(name: [.short, .long], help: ArgumentHelp("Grace period in milliseconds (the drain timeout) before the instance is stopped.", valueName: "ms"))
    var timeout: Int?

    @Flag(name: .long, help: "Return once the stop has begun.")
    var noWait = false

    @Argument(help: "Instance names or UUIDs.")
    var instances: [String]

    func validate() throws {
        if instances.isEmpty { throw ValidationError("name at least one instance") }
        if let timeout, timeout < 0 { throw ValidationError("--timeout must not be negative") }
    }

    func run() async throws {
        let client = try global.makeClient()
        let body = StopInstanceRequestBody(force: force ? true : nil, drainTimeoutMs: timeout)
        let results: [InstanceStateChangeDTO]
        if instances.count == 1 {
            results = [try await client.stopInstance(instances[0], body)]
        } else {
            results = try await client.stopInstances(instances.map { StopInstancesRequestItem(reference($0), body: body) })
        }
        if noWait {
            try reportBatch(results, requested: instances, json: global.json)
            return
        }
        let stopping = results.filter { !$0.failed }
        let waitSeconds = StopCommand.waitSeconds(graceMs: timeout)
        var waited: [any BatchItemResult] = results.filter(\.failed)
        if !stopping.isEmpty {
            let items = stopping.map {
                WaitInstancesRequestItem(uuid: $0.uuid, name: $0.uuid == nil ? $0.name : nil, state: .stopped, timeoutS: waitSeconds)
            }
            let outcome = try await client.waitInstances(items)
            waited += outcome.map { item -> any BatchItemResult in
                // delete-on-stop instances vanish once stopped: that is the awaited outcome.
                if item.failed, item.error == ItemErrorCode.notFound {
                    return WaitedInstanceDTO(uuid: item.uuid, name: item.name, state: .deleted)
                }
                return item
            }
        }
        try reportAny(waited, requested: instances, json: global.json)
    }

    /// How long to wait for `stopped`: the grace period plus time for the workload to exit.
    static func waitSeconds(graceMs: Int?) -> Int {
        (graceMs ?? 0) / 1000 + 60
    }
}

/// Reports a mixed list of batch items (see `reportBatch`).
func reportAny(_ items: [any BatchItemResult], requested: [String], json: Bool) throws {
    if json {
        try Output.json(items.map { AnyBatchItem(item: $0) })
    }
    var worst: CorralExitCode?
    for (index, item) in items.enumerated() {
        let label = item.name ?? item.uuid ?? (index < requested.count ? requested[index] : "?")
        if item.failed {
            Console.error(label + ": " + (item.message ?? "failed"))
            let code = CorralExitCode(item: item)
            worst = max(worst ?? code, code)
        } else if !json {
            Console.stdout(label + "\n")
        }
    }
    if let worst { throw CommandFailure(worst) }
}

private struct AnyBatchItem: Encodable {
    var item: any BatchItemResult

    func encode(to encoder: any Encoder) throws {
        try item.encode(to: encoder)
    }
}

/// `corral suspend`: freeze instances into `standby`.
struct SuspendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suspend",
        abstract: "Suspend instances (they enter standby and resume on start).")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Instance names or UUIDs.")
    var instances: [String]

    func validate() throws {
        if instances.isEmpty { throw ValidationError("name at least one instance") }
    }

    func run() async throws {
        let client = try global.makeClient()
        if instances.count == 1 {
            try reportBatch([try await client.suspendInstance(instances[0])], requested: instances, json: global.json)
        } else {
            let items = instances.map { SuspendInstancesRequestItem(reference($0)) }
            try reportBatch(try await client.suspendInstances(items), requested: instances, json: global.json)
        }
    }
}

/// `corral rm`: delete instances.
struct RmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Delete instances.",
        discussion: "A running instance is refused unless --force, which stops it first.")

    @OptionGroup var global: GlobalOptions

    @Flag(name: [.short, .long], help: "Stop running instances (at once) before deleting them.")
    var force = false

    @Argument(help: "Instance names or UUIDs.")
    var instances: [String]

    func validate() throws {
        if instances.isEmpty { throw ValidationError("name at least one instance") }
    }

    func run() async throws {
        let client = try global.makeClient()
        if force {
            try await stopFirst(client)
        }
        if instances.count == 1 {
            try reportBatch([try await client.deleteInstance(instances[0])], requested: instances, json: global.json)
        } else {
            let items = instances.map { DeleteInstancesRequestItem(reference($0)) }
            try reportBatch(try await client.deleteInstances(items), requested: instances, json: global.json)
        }
    }

    /// Stops every named instance that is not stopped and waits for it; an
    /// instance that is missing is left for the delete to report.
    private func stopFirst(_ client: CorralClient) async throws {
        let stops = try await client.stopInstances(
            instances.map { StopInstancesRequestItem(reference($0), body: StopInstanceRequestBody(force: true)) })
        let stopping = stops.filter { !$0.failed && $0.state != .stopped }
        guard !stopping.isEmpty else { return }
        let waits = try await client.waitInstances(
            stopping.map {
                WaitInstancesRequestItem(uuid: $0.uuid, name: $0.uuid == nil ? $0.name : nil, state: .stopped, timeoutS: 60)
            })
        for item in waits where item.failed && item.error != ItemErrorCode.notFound {
            Console.error((item.name ?? item.uuid ?? "?") + ": " + (item.message ?? "did not stop"))
            throw CommandFailure(CorralExitCode(item: item))
        }
    }
}

/// `corral wait`: block until instances reach a state.
struct WaitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wait",
        abstract: "Wait until instances reach a state.",
        discussion: "Exits 6 when the timeout lapses first.")

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "The state to wait for.")
    var state = StateArgument(.stopped)

    @Option(name: .long, help: ArgumentHelp("Seconds to wait (default: the daemon's).", valueName: "seconds"))
    var timeout: Int?

    @Argument(help: "Instance names or UUIDs.")
    var instances: [String]

    func validate() throws {
        if instances.isEmpty { throw ValidationError("name at least one instance") }
        if let timeout, timeout < 0 { throw ValidationError("--timeout must not be negative") }
    }

    func run() async throws {
        let client = try global.makeClient()
        if instances.count == 1 {
            let result = try await client.waitInstance(
                instances[0], WaitInstanceRequestBody(state: state.wire, timeoutS: timeout))
            try reportBatch([result], requested: instances, json: global.json)
        } else {
            let items = instances.map {
                WaitInstancesRequestItem(reference($0), body: WaitInstanceRequestBody(state: state.wire, timeoutS: timeout))
            }
            try reportBatch(try await client.waitInstances(items), requested: instances, json: global.json)
        }
    }
}

struct StateArgument: ExpressibleByArgument, CustomStringConvertible {
    var wire: WireInstanceState

    init(_ wire: WireInstanceState) {
        self.wire = wire
    }

    var description: String { wire.rawValue }

    init?(argument: String) {
        guard let state = WireInstanceState(rawValue: argument) else { return nil }
        wire = state
    }

    static var allValueStrings: [String] { WireInstanceState.allCases.map(\.rawValue) }
}
