import CorralCore
import CorralHost
import Foundation

/// The OCI runtime spec of one container run, built from the image's config and the
/// instance's spec. Pure: the caller writes it to `config.json`.
///
/// - Command: Docker's rule. `args`, when given, replace the image's `Cmd` and keep
///   its `Entrypoint`; otherwise `Entrypoint + Cmd`.
/// - Environment: the image's `Env` in its order, each variable replaced by the
///   spec's value where the spec sets it, then the spec's other variables sorted;
///   `PATH`, `HOME` and `HOSTNAME` are added when neither sets them.
/// - Working directory: the image's `WorkingDir`, else `/` (created when missing).
/// - User: the image's `User` resolved against its own passwd and group files.
/// - Isolation: new pid, ipc, uts, mount and cgroup namespaces; a new network
///   namespace (loopback only) unless a network attachment gives one. The
///   capabilities Docker grants by default, `DefaultSeccompProfile`, and runc's
///   masked and read-only paths.
/// - Resources: `memory_mb` as the memory limit with no swap on top, `vcpus` whole
///   CPUs of CFS quota, a pids limit, and Docker's device allow list.
struct ContainerBundle: Sendable {
    var uuid: UUID
    var name: String
    var spec: InstanceSpec
    var image: ImageRuntimeConfig
    var user: ImageUser
    /// Where the container's root file system is mounted (the overlay's merged dir).
    var rootfs: String
    /// `linux.cgroupsPath`: `/<parent>/<uuid>`, the directories `InstanceCgroup` manages.
    var cgroupsPath: String
    /// A network namespace to join; nil: a new one.
    var networkNamespace: String?
    /// Host files bind-mounted at `/etc/hosts`, `/etc/hostname` and, when set,
    /// `/etc/resolv.conf`.
    var hostsFile: String
    var hostnameFile: String
    var resolvConfFile: String?
    var maxProcesses: Int
    /// A standby's bundle: its init is `corral-standby` (descriptor 4, run as root
    /// from `/`), which becomes the instance's command once one takes it over;
    /// `runtimeSpec().process` still describes that command.
    var standby = false

    static let cpuPeriodMicroseconds: UInt64 = 100_000
    /// The descriptors a standby's init is given: the launch channel, then its own
    /// program (see `Sources/corral-standby/main.c`).
    static let standbyChannelDescriptor: Int32 = 3
    static let standbyProgramDescriptor: Int32 = 4

    /// The capabilities Docker, runc and crun grant a container by default.
    static let defaultCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]

    /// runc's defaults, plus the two Docker adds.
    static let maskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]

    static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    /// The spec, or `invalidArgument` when there is no command to run.
    func runtimeSpec() throws(CorralError) -> OCIRuntimeSpec {
        let args = image.command(args: spec.args)
        guard !args.isEmpty else {
            throw .invalidArgument(
                "failed to start instance: the image sets no Entrypoint or Cmd, so args must name the command to run"
            )
        }
        let env = image.environment(overrides: spec.env, defaults: [
            ("PATH", ExecutableLookup.defaultSearchPath), ("HOSTNAME", name), ("HOME", user.home),
        ])
        let cwd = image.workingDirectory
        let capabilities = Self.defaultCapabilities
        let memory = Int64(spec.memoryMB) * 1024 * 1024

        let process = OCIRuntimeSpec.Process(
            terminal: false,
            user: OCIRuntimeSpec.User(uid: user.uid, gid: user.gid, additionalGids: user.additionalGids.isEmpty ? nil : user.additionalGids),
            args: args,
            env: env,
            cwd: cwd.hasPrefix("/") ? cwd : "/\(cwd)",
            capabilities: OCIRuntimeSpec.Capabilities(
                bounding: capabilities, effective: capabilities, inheritable: [], permitted: capabilities, ambient: []
            ),
            noNewPrivileges: false
        )
        var namespaces = ["pid", "ipc", "uts", "mount", "cgroup"].map { OCIRuntimeSpec.Namespace(type: $0, path: nil) }
        namespaces.append(OCIRuntimeSpec.Namespace(type: "network", path: networkNamespace))

        var launched = process
        if standby {
            launched.user = OCIRuntimeSpec.User(uid: 0, gid: 0, additionalGids: nil)
            launched.args = ["/proc/self/fd/\(Self.standbyProgramDescriptor)"]
            launched.env = ["PATH=\(ExecutableLookup.defaultSearchPath)"]
            launched.cwd = "/"
        }
        return OCIRuntimeSpec(
            process: launched,
            root: OCIRuntimeSpec.Root(path: rootfs, readonly: false),
            hostname: name,
            mounts: mounts(),
            linux: OCIRuntimeSpec.Linux(
                namespaces: namespaces,
                cgroupsPath: cgroupsPath,
                resources: OCIRuntimeSpec.Resources(
                    devices: Self.deviceRules,
                    memory: OCIRuntimeSpec.Memory(limit: memory, swap: memory),
                    cpu: spec.vcpus > 0
                        ? OCIRuntimeSpec.CPU(quota: Int64(spec.vcpus) * Int64(Self.cpuPeriodMicroseconds), period: Self.cpuPeriodMicroseconds)
                        : nil,
                    pids: OCIRuntimeSpec.Pids(limit: Int64(maxProcesses))
                ),
                seccomp: DefaultSeccompProfile.profile,
                maskedPaths: Self.maskedPaths,
                readonlyPaths: Self.readonlyPaths
            )
        )
    }

    private func mounts() -> [OCIRuntimeSpec.Mount] {
        typealias Mount = OCIRuntimeSpec.Mount
        var mounts = [
            Mount(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
            Mount(destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            Mount(destination: "/dev/pts", type: "devpts", source: "devpts",
                  options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
            Mount(destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            Mount(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
            Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
            Mount(destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"]),
            Mount(destination: "/etc/hosts", type: "bind", source: hostsFile, options: ["rbind", "rprivate"]),
            Mount(destination: "/etc/hostname", type: "bind", source: hostnameFile, options: ["rbind", "rprivate"]),
        ]
        if let resolvConfFile {
            mounts.append(Mount(destination: "/etc/resolv.conf", type: "bind", source: resolvConfFile, options: ["rbind", "rprivate"]))
        }
        return mounts
    }

    /// Deny every device, then allow what Docker allows: `mknod` of anything, and
    /// use of null, zero, full, random, urandom, tty, console, ptmx and the ptys.
    static let deviceRules: [OCIRuntimeSpec.DeviceRule] = {
        typealias Rule = OCIRuntimeSpec.DeviceRule
        var rules = [
            Rule(allow: false, type: nil, major: nil, minor: nil, access: "rwm"),
            Rule(allow: true, type: "c", major: nil, minor: nil, access: "m"),
            Rule(allow: true, type: "b", major: nil, minor: nil, access: "m"),
        ]
        for (major, minor) in [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2)] {
            rules.append(Rule(allow: true, type: "c", major: Int64(major), minor: Int64(minor), access: "rwm"))
        }
        rules.append(Rule(allow: true, type: "c", major: 136, minor: nil, access: "rwm"))
        return rules
    }()

    /// `/etc/hosts` for the container: loopback and its own name.
    func hostsFileContent(address: String?) -> String {
        Self.hostsFileContent(name: name, address: address)
    }

    /// `/etc/hosts` for a container called `name` at `address` (none: 127.0.1.1).
    static func hostsFileContent(name: String, address: String?) -> String {
        var lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
        lines.append("\(address ?? "127.0.1.1")\t\(name)")
        return lines.joined(separator: "\n") + "\n"
    }
}
