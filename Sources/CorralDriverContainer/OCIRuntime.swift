import CorralCore
import CorralHost
import Foundation

/// The OCI runtimes the container driver can run containers with.
public enum OCIRuntimeKind: String, Sendable, CaseIterable {
    /// The default: about three times faster than runc here.
    case crun
    case runc
}

/// How Corral invokes an OCI runtime (crun or runc): always with its own state
/// root per runtime (so Corral's containers never mix with anyone else's), the
/// cgroupfs manager (there is no systemd to ask), and, on a hybrid cgroup host,
/// from a private mount namespace in which the cgroup2 mounts are gone (crun 1.8
/// refuses hybrid hosts; runc runs either way, and the same namespace keeps both
/// on the v1 controllers; see `CgroupLayout.hybridUnifiedMounts`). Their command
/// lines agree but for the global options.
struct OCIRuntime: Sendable {
    let kind: OCIRuntimeKind
    /// Absolute path of the runtime's executable.
    let executable: String
    /// `--root`: the runtime's state directory for Corral's containers.
    let stateRoot: String
    /// cgroup2 mount points the runtime must not see; empty on a non-hybrid host.
    let hiddenMounts: [String]

    var name: String { kind.rawValue }

    /// The options every invocation starts with; `errorLog` receives the runtime's
    /// own errors as JSON lines, apart from the container's output.
    func globalArguments(errorLog: String?) -> [String] {
        switch kind {
        case .crun:
            var arguments = ["--root=\(stateRoot)", "--cgroup-manager=cgroupfs"]
            if let errorLog { arguments += ["--log=file:\(errorLog)", "--log-format=json"] }
            return arguments
        case .runc:
            var arguments = ["--root", stateRoot]
            if let errorLog { arguments += ["--log", errorLog, "--log-format", "json"] }
            return arguments
        }
    }

    /// `… run --detach`: creates and starts the container and exits once its
    /// process runs, leaving the pid in `pidFile`.
    /// `preserveDescriptors`: how many descriptors from 3 on the container's init
    /// inherits.
    func runArguments(id: String, bundle: String, pidFile: String, errorLog: String, preserveDescriptors: Int = 0) -> [String] {
        [executable] + globalArguments(errorLog: errorLog)
            + ["run", "--detach", "--pid-file=\(pidFile)", "--bundle=\(bundle)"]
            + (preserveDescriptors > 0 ? ["--preserve-fds=\(preserveDescriptors)"] : [])
            + [id]
    }

    /// An invocation run by the daemon itself, in the private mount namespace
    /// when the host needs it.
    func command(_ arguments: [String], errorLog: String? = nil, stdin: [UInt8] = [], outputLimit: Int = 1 << 20) -> HostCommand {
        HostCommand(
            executable: executable,
            arguments: globalArguments(errorLog: errorLog) + arguments,
            detachedMounts: hiddenMounts.isEmpty ? nil : hiddenMounts,
            stdin: stdin,
            outputLimit: outputLimit
        )
    }

    /// Where the runtime keeps the state of container `id`.
    func stateDirectory(_ id: String) -> String { "\(stateRoot)/\(id)" }

    /// The error messages the runtime wrote to its JSON log, oldest first (crun and
    /// runc both write `{"level": …, "msg": …}` lines).
    static func errors(inLog path: String) -> [String] {
        guard let text = try? FileSystem.readText(path) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let data = line.data(using: .utf8),
                  let entry = try? JSONDecoder().decode(LogEntry.self, from: data)
            else { return line.isEmpty ? nil : String(line) }
            return entry.level == "error" ? entry.msg : nil
        }
    }

    private struct LogEntry: Decodable {
        let msg: String
        let level: String?
    }

    /// The first line of `--version` (`crun version 1.8.1`, `runc version 1.1.5`), or why there is none.
    func version(watcher: DescriptorWatcher) async -> Result<String, CorralError> {
        let command = HostCommand(executable: executable, arguments: ["--version"])
        do {
            let outcome = try await command.run(watcher: watcher, deadline: HostProcess.monotonicNanoseconds() + 5_000_000_000)
            guard outcome.exitCode == 0 else {
                return .failure(.unavailable("\(name) --version failed: \(outcome.errorText)"))
            }
            let text = String(decoding: outcome.stdout, as: UTF8.self)
            return .success(text.split(separator: "\n").first.map(String.init) ?? text)
        } catch {
            return .failure(error)
        }
    }
}
