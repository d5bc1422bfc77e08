import ArgumentParser
import CorralAPI
import CorralClient

/// `corral run`: create an instance, start it and wait until it runs.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Create and start an instance, and wait until it runs.",
        discussion: """
            Prints the instance's name and UUID. Examples:
              corral run --name hello -- /bin/sh -c 'echo hi; sleep 30'
              corral run --driver container busybox -- sleep 60
              corral run --driver vm busybox -- sh -c 'echo hi'
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var instance: InstanceOptions

    // A microVM's first boot may include building its root disk and, where KVM
    // cannot run the guest, seconds of software emulation.
    @Option(name: .long, help: ArgumentHelp("Seconds to wait for the instance to run.", valueName: "seconds"))
    var timeout: Int = 120

    func validate() throws {
        if timeout < 0 { throw ValidationError("--timeout must not be negative") }
    }

    func run() async throws {
        let client = try global.makeClient()
        var request = try instance.request(autostart: true)
        request.timeoutS = timeout
        let created = try await client.createInstance(request)
        guard let first = created.first, let id = first.uuid ?? first.name else {
            throw CommandFailure(.failure, "the daemon created no instance")
        }
        var current = first
        if current.state == .starting || current.state == nil {
            do {
                let waited = try await client.waitInstance(id, WaitInstanceRequestBody(state: .running, timeoutS: timeout))
                current.state = waited.state
            } catch let error as CorralClientError where error.isNotFound && instance.rm {
                current.state = .deleted
            }
        }
        if global.json {
            let shown = (try? await client.getInstance(id)) ?? current
            try Output.json(shown)
        } else {
            Console.stdout((current.name ?? "-") + " " + (current.uuid ?? "-") + "\n")
        }
    }
}

/// `corral create`: create an instance without starting it.
struct CreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create an instance without starting it.",
        discussion: "Prints the instance's name and UUID.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var instance: InstanceOptions

    func run() async throws {
        let client = try global.makeClient()
        let created = try await client.createInstance(try instance.request(autostart: false))
        if global.json {
            if created.count == 1 {
                try Output.json(created[0])
            } else {
                try Output.json(created)
            }
        } else {
            for item in created {
                Console.stdout((item.name ?? "-") + " " + (item.uuid ?? "-") + "\n")
            }
        }
    }
}
