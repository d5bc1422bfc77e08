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
        let argv = image.command(args: spec.args)
        guard !argv.isEmpty else {
            throw .invalidArgument(
                "failed to start instance: the image sets no Entrypoint or Cmd, so args must name the command to run"
            )
        }
        let env = image.environment(overrides: spec.env, defaults: [
            ("PATH", ExecutableLookup.defaultSearchPath), ("HOSTNAME", hostname), ("HOME", user.home),
        ])
        return WorkloadSpec(argv: argv, environment: env, workingDirectory: image.workingDirectory)
    }
}
