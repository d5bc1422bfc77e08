import ArgumentParser
import CorralAPI
import Foundation

/// `corral ps`: the instances and where each is in its life.
struct PsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ps",
        abstract: "List instances.",
        discussion: "Instances persist until deleted, so stopped ones are listed too.")

    @OptionGroup var global: GlobalOptions

    @Flag(name: [.short, .long], help: "List all instances (the default; kept for habit).")
    var all = false

    @Flag(name: [.short, .long], help: "Print names only.")
    var quiet = false

    func run() async throws {
        let client = try global.makeClient()
        let instances = try await client.listInstances(details: true).sorted {
            ($0.createdAt ?? "", $0.name ?? "") < ($1.createdAt ?? "", $1.name ?? "")
        }
        if global.json {
            try Output.json(instances)
            return
        }
        if quiet {
            Console.stdout(instances.map { ($0.name ?? $0.uuid ?? "-") + "\n" }.joined())
            return
        }
        let now = Date()
        let rows = instances.map { instance -> [String] in
            [
                instance.name ?? instance.uuid ?? "-",
                instance.state?.rawValue ?? "-",
                instance.driver ?? "-",
                Output.truncate(Output.command(of: instance), 40),
                Output.ago(instance.createdAt, now: now),
                Output.status(of: instance, now: now),
                instance.bootTimeUs.map(Output.micros) ?? "-",
            ]
        }
        Output.table(["NAME", "STATE", "DRIVER", "COMMAND", "CREATED", "STATUS", "BOOT"], rows)
    }
}

/// `corral inspect`: the full record of instances, as JSON.
struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show instances as JSON.",
        discussion: "One instance prints as an object, several as an array.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "Instance names or UUIDs.")
    var instances: [String]

    func validate() throws {
        if instances.isEmpty { throw ValidationError("name at least one instance") }
    }

    func run() async throws {
        let client = try global.makeClient()
        var found: [InstanceDTO] = []
        for id in instances {
            found.append(try await client.getInstance(id))
        }
        if found.count == 1 {
            try Output.json(found[0])
        } else {
            try Output.json(found)
        }
    }
}
