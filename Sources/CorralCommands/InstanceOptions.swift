import ArgumentParser
import CorralAPI
import Foundation

/// The options shared by `create` and `run` that describe a new instance.
struct InstanceOptions: ParsableArguments {
    @Option(name: .long, help: "The instance name (default: generated).")
    var name: String?

    @Option(name: .long, help: "The driver: process, container, vm, or a plugin's name (default: the daemon's).")
    var driver: String?

    @Option(name: [.short, .long], help: ArgumentHelp("Memory in MiB.", valueName: "MiB"))
    var memory: Int?

    @Option(name: .long, help: "Number of vCPUs.")
    var vcpus: Int?

    @Option(name: [.short, .long], help: ArgumentHelp("An environment variable; KEY alone copies it from this environment. Repeatable.", valueName: "KEY=VALUE"))
    var env: [String] = []

    @Option(name: .long, help: "Restart policy: never, always or on-failure.")
    var restart: RestartPolicyArgument?

    @Flag(name: .long, help: "Delete the instance once it stops (the delete-on-stop feature).")
    var rm = false

    @Option(name: .long, help: "A tag to attach. Repeatable.")
    var tag: [String] = []

    @Option(name: [.short, .customLong("publish")], help: ArgumentHelp("Publish an instance port on the host's loopback. Repeatable.", valueName: "HOSTPORT:PORT"))
    var publish: [String] = []

    @Option(name: .long, help: ArgumentHelp("vm driver: a kernel image on the daemon's host (default: the driver's).", valueName: "PATH"))
    var kernel: String?

    @Option(name: .long, help: ArgumentHelp("vm driver: an initrd on the daemon's host, laid under Corral's initramfs.", valueName: "PATH"))
    var initrd: String?

    @Option(name: .customLong("kernel-arg"), help: ArgumentHelp("vm driver: a kernel parameter merged over the defaults. Repeatable.", valueName: "KEY[=VALUE]"))
    var kernelArg: [String] = []

    @Argument(
        parsing: .captureForPassthrough,
        help: ArgumentHelp(
            "The image, then the arguments: IMAGE [ARG...], IMAGE -- ARG..., or -- ARG... for drivers without an image.",
            valueName: "image-and-args"))
    var imageAndArguments: [String] = []

    /// The image (if any) and the arguments, split at the first word or at `--`.
    var imageAndArgs: (image: String?, args: [String]) {
        var words = imageAndArguments[...]
        if words.first == "--" {
            return (nil, Array(words.dropFirst()))
        }
        guard let image = words.popFirst() else { return (nil, []) }
        if words.first == "--" { words = words.dropFirst() }
        return (image, Array(words))
    }

    func environment(_ processEnvironment: [String: String] = ProcessInfo.processInfo.environment) throws -> [String: String] {
        try Self.environment(env, processEnvironment)
    }

    /// The variables `--env` entries set: `KEY=VALUE`, or `KEY` alone for its
    /// value in `processEnvironment`.
    ///
    /// - Throws: `ValidationError` for an empty name or a bare `KEY` that is not set.
    static func environment(
        _ entries: [String], _ processEnvironment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> [String: String] {
        var result: [String: String] = [:]
        for entry in entries {
            if let equals = entry.firstIndex(of: "=") {
                let key = String(entry[..<equals])
                guard !key.isEmpty else { throw ValidationError("invalid --env '\(entry)': empty name") }
                result[key] = String(entry[entry.index(after: equals)...])
            } else if let value = processEnvironment[entry] {
                result[entry] = value
            } else {
                throw ValidationError("invalid --env '\(entry)': expected KEY=VALUE, and \(entry) is not set here")
            }
        }
        return result
    }

    /// The create request these options describe.
    func request(autostart: Bool) throws -> CreateInstanceRequest {
        let (image, args) = imageAndArgs
        let environment = try environment()
        return CreateInstanceRequest(
            name: name,
            image: image.map { .reference($0) },
            args: args.isEmpty ? nil : args,
            env: environment.isEmpty ? nil : environment,
            memoryMB: memory,
            vcpus: vcpus,
            autostart: autostart,
            restartPolicy: restart?.wire,
            features: rm ? [.deleteOnStop] : nil,
            tags: tag.isEmpty ? nil : tag,
            driver: driver,
            ports: publish.isEmpty ? nil : publish,
            kernel: kernelRequest())
    }

    /// The `kernel` field `--kernel`, `--initrd` and `--kernel-arg` describe, if any.
    func kernelRequest() -> CreateInstanceRequest.Kernel? {
        guard kernel != nil || initrd != nil || !kernelArg.isEmpty else { return nil }
        var cmdline: [String: String] = [:]
        for argument in kernelArg {
            if let equals = argument.firstIndex(of: "=") {
                cmdline[String(argument[..<equals])] = String(argument[argument.index(after: equals)...])
            } else {
                cmdline[argument] = ""
            }
        }
        return CreateInstanceRequest.Kernel(
            path: kernel.map(Self.absolute), initrd: initrd.map(Self.absolute), cmdline: cmdline.isEmpty ? nil : cmdline)
    }

    /// A path made absolute against the working directory: the daemon resolves it, not the CLI.
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    func validate() throws {
        if let first = imageAndArguments.first, first == "--help" || first == "-h" {
            throw CleanExit.helpRequest()
        }
        // Passthrough capture takes an unknown option for the image; options come
        // before the image or `--`, so a leading dash there is a mistyped option.
        if let first = imageAndArguments.first, first != "--", first.hasPrefix("-") {
            throw ValidationError("unknown option '\(first)'")
        }
        if imageAndArguments.isEmpty {
            throw ValidationError("nothing to run: give an image, or '-- command args...' for the process driver")
        }
        if let memory, memory <= 0 { throw ValidationError("--memory must be a positive number of MiB") }
        if let vcpus, vcpus <= 0 { throw ValidationError("--vcpus must be positive") }
        if let empty = kernelArg.first(where: { $0.isEmpty || $0.hasPrefix("=") }) {
            throw ValidationError("invalid --kernel-arg '\(empty)': expected KEY or KEY=VALUE")
        }
        _ = try environment()
    }
}

enum RestartPolicyArgument: String, ExpressibleByArgument, CaseIterable {
    case never
    case always
    case onFailure = "on-failure"

    var wire: WireRestartPolicy {
        switch self {
        case .never: return .never
        case .always: return .always
        case .onFailure: return .onFailure
        }
    }
}
