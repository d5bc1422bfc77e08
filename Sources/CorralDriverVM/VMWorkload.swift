import CorralAgentProtocol
import CorralCore
import CorralHost

/// What the guest agent is told to run, from the image config and the spec as
/// Docker does it: `Entrypoint` then the spec's args (or the image's `Cmd` when
/// there are none), the image's environment with the spec's laid over it, the
/// image's working directory, and its user resolved in the image's own files.
enum VMWorkload {
    static func spec(
        image: ImageRuntimeConfig, spec: InstanceSpec, user: ImageUser, hostname: String
    ) throws(CorralError) -> WorkloadSpec {
        let argv = image.entrypoint + (spec.args.isEmpty ? image.cmd : spec.args)
        guard !argv.isEmpty else {
            throw .invalidArgument(
                "failed to start instance: the image sets no Entrypoint or Cmd, so args must name the command to run"
            )
        }
        let env = environment(image: image, overrides: spec.env, defaults: [
            ("PATH", ExecutableLookup.defaultSearchPath), ("HOSTNAME", hostname), ("HOME", user.home),
        ])
        let cwd = image.workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/"
        return WorkloadSpec(argv: argv, environment: env, workingDirectory: cwd)
    }

    /// `KEY=VALUE` entries: the image's in its order (with the spec's values where
    /// it sets the same keys), the spec's other keys sorted, then the defaults the
    /// two left unset.
    static func environment(image: ImageRuntimeConfig, overrides: [String: String], defaults: [(String, String)]) -> [String] {
        var seen: Set<String> = []
        var out: [String] = []
        for entry in image.env {
            let key = String(entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            guard !key.isEmpty, seen.insert(key).inserted else { continue }
            if let value = overrides[key] {
                out.append("\(key)=\(value)")
            } else {
                out.append(entry.contains("=") ? entry : "\(entry)=")
            }
        }
        for key in overrides.keys.sorted() where seen.insert(key).inserted {
            out.append("\(key)=\(overrides[key] ?? "")")
        }
        for (key, value) in defaults where seen.insert(key).inserted {
            out.append("\(key)=\(value)")
        }
        return out
    }
}
