import ArgumentParser
import CorralAPI
import CorralClient

/// `corral doctor`: which drivers work on the daemon's host, and why not.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Show which drivers work on the daemon's host and why the others do not.")

    @OptionGroup var global: GlobalOptions

    private struct Report: Encodable {
        var endpoint: String
        var drivers: [DriverInfoDTO]
        var health: HealthzDTO
    }

    func run() async throws {
        let client = try global.makeClient()
        let health = try await client.healthz()
        let drivers = try await client.drivers()
        if global.json {
            try Output.json(Report(endpoint: client.endpoint.description, drivers: drivers, health: health))
            return
        }
        Console.stdout("daemon: \(client.endpoint)\n")
        for (name, version) in (health.versions ?? [:]).sorted(by: { $0.key < $1.key }) {
            Console.stdout("  \(name) \(version)\n")
        }
        for (name, state) in (health.checks ?? [:]).sorted(by: { $0.key < $1.key }) {
            Console.stdout("  check \(name): \(state.rawValue)\n")
        }
        Console.stdout("\n")
        let rows = drivers.map { driver -> [String] in
            [
                driver.name + (driver.default ? " (default)" : ""),
                driver.available ? "yes" : "no",
                driver.capabilities.isEmpty ? "-" : driver.capabilities.joined(separator: ","),
            ]
        }
        Output.table(["DRIVER", "AVAILABLE", "CAPABILITIES"], rows)
        for driver in drivers where !driver.notes.isEmpty {
            Console.stdout("\n\(driver.name):\n")
            for note in driver.notes {
                Console.stdout("  - \(note)\n")
            }
        }
        if !drivers.contains(where: \.available) {
            throw CommandFailure(.failure, "no driver can run instances on this host")
        }
    }
}

/// `corral version`: this client's version and the daemon's.
struct VersionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Show the client's and the daemon's versions.")

    @OptionGroup var global: GlobalOptions

    private struct Versions: Encodable {
        var client: String
        var daemon: [String: String]?
    }

    func run() async throws {
        let client = try global.makeClient()
        let health: HealthzDTO
        do {
            health = try await client.healthz()
        } catch let error as CorralClientError {
            if global.json {
                try Output.json(Versions(client: CorralVersion.client, daemon: nil))
            } else {
                Console.stdout("client: \(CorralVersion.client)\n")
            }
            throw error
        }
        if global.json {
            try Output.json(Versions(client: CorralVersion.client, daemon: health.versions ?? [:]))
            return
        }
        Console.stdout("client: \(CorralVersion.client)\n")
        let versions = (health.versions ?? [:]).sorted(by: { $0.key < $1.key })
        if versions.isEmpty {
            Console.stdout("daemon: (no versions reported)\n")
        }
        for (name, version) in versions {
            Console.stdout("\(name): \(version)\n")
        }
    }
}
