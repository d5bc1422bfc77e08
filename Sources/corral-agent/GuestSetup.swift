import CCorralSpawn
import CorralAgentProtocol
import Glibc

/// Turns the initramfs into the instance described by a `GuestConfig`: mounts the
/// root disk and volumes, moves the pseudo file systems into it, switches root,
/// configures the network and identity files, and starts the workload.
///
/// Runs once per boot and is not undone on failure: the agent powers the machine
/// off instead.
enum GuestSetup {
    static let newRoot = "/newroot"
    /// How long a block device may take to appear.
    static let deviceWaitMilliseconds: Int64 = 10_000

    /// Everything up to and including the start of the workload. Returns its pid
    /// and the environment `exec` requests start from.
    static func apply(_ config: GuestConfig) throws(AgentSystemError) -> (pid: pid_t, environment: [String]) {
        try mountRoot(config)
        try GuestNetworkSetup.apply(config)
        let environment = workloadEnvironment(config)
        let pid = try startWorkload(config, environment: environment)
        return (pid, CommandRunner.merge(CommandRunner.defaultEnvironment, config.workload.environment))
    }

    private static func mountRoot(_ config: GuestConfig) throws(AgentSystemError) {
        try waitForDevice(config.rootDevice)
        _ = mkdir(newRoot, 0o755)
        if corral_agent_mount(config.rootDevice, newRoot, config.rootFileSystem, 0, nil) != 0 {
            throw AgentSystemError("mount the root disk", call: "mount", path: config.rootDevice)
        }
        for volume in config.volumes {
            let device = try blockDevice(volume.device)
            let target = newRoot + normalized(volume.mountPoint)
            try GuestDirectory.create(target)
            let flags: UInt = volume.readOnly ? UInt(MS_RDONLY) : 0
            if corral_agent_mount(device, target, volume.fileSystem, flags, nil) != 0 {
                throw AgentSystemError("mount volume \(volume.device)", call: "mount", path: volume.mountPoint)
            }
        }
        for pseudo in ["/dev", "/proc", "/sys"] {
            try GuestDirectory.create(newRoot + pseudo)
            if corral_agent_move_mount(pseudo, newRoot + pseudo) != 0 {
                throw AgentSystemError("move \(pseudo) into the root disk", call: "mount", path: pseudo)
            }
        }
        let extra: [(source: String, target: String, type: String, flags: UInt, data: String)] = [
            ("devpts", "/dev/pts", "devpts", UInt(MS_NOSUID | MS_NOEXEC), "gid=5,mode=0620,ptmxmode=0666"),
            ("shm", "/dev/shm", "tmpfs", UInt(MS_NOSUID | MS_NODEV), "mode=1777"),
        ]
        for entry in extra {
            _ = mkdir(newRoot + entry.target, 0o755)
            if corral_agent_mount(entry.source, newRoot + entry.target, entry.type, entry.flags, entry.data) != 0 {
                throw AgentSystemError("mount \(entry.type)", call: "mount", path: entry.target)
            }
        }
        if corral_agent_switch_root(newRoot) != 0 {
            throw AgentSystemError("switch to the root disk", call: "switch root", path: newRoot)
        }
    }

    /// The device node `device` names: a path as it is, or `serial:<s>` for the
    /// virtio disk whose serial is `s` (names follow probe order, serials do not).
    /// Waits for it as `waitForDevice` does.
    private static func blockDevice(_ device: String) throws(AgentSystemError) -> String {
        guard device.hasPrefix("serial:") else {
            try waitForDevice(device)
            return device
        }
        let serial = String(device.dropFirst("serial:".count))
        let deadline = monotonicMilliseconds() + deviceWaitMilliseconds
        while true {
            if let directory = opendir("/sys/block") {
                defer { closedir(directory) }
                while let entry = readdir(directory) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                    guard !name.hasPrefix(".") else { continue }
                    guard let bytes = try? GuestFiles.read(path: "/sys/block/\(name)/serial", limit: 256) else { continue }
                    if String(decoding: bytes, as: UTF8.self).trimmingWhitespace() == serial {
                        let node = "/dev/\(name)"
                        try waitForDevice(node)
                        return node
                    }
                }
            }
            if monotonicMilliseconds() >= deadline {
                throw AgentSystemError("find the disk with serial \(serial)", call: "readdir", path: "/sys/block", errno: ENOENT)
            }
            usleep(10_000)
        }
    }

    private static func waitForDevice(_ path: String) throws(AgentSystemError) {
        let deadline = monotonicMilliseconds() + deviceWaitMilliseconds
        var info = stat()
        while stat(path, &info) != 0 {
            if monotonicMilliseconds() >= deadline {
                throw AgentSystemError("find block device \(path)", call: "stat", path: path)
            }
            usleep(10_000)
        }
    }

    private static func normalized(_ path: String) -> String {
        "/" + path.split(separator: "/").joined(separator: "/")
    }

    /// PATH, HOME (the user's from /etc/passwd, else `/`), HOSTNAME and TERM,
    /// overlaid with the workload's own entries.
    static func workloadEnvironment(_ config: GuestConfig) -> [String] {
        let base = [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=\(home(of: config.uid) ?? "/")",
            "HOSTNAME=\(config.hostname)",
            "TERM=linux",
        ]
        return CommandRunner.merge(base, config.workload.environment)
    }

    /// The home directory of `uid` in the root's `/etc/passwd`.
    static func home(of uid: UInt32, passwd: String = "/etc/passwd") -> String? {
        guard let bytes = try? GuestFiles.read(path: passwd, limit: 4 << 20) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count >= 6, UInt32(fields[2]) == uid, !fields[5].isEmpty { return String(fields[5]) }
        }
        return nil
    }

    /// Starts the workload in its own session, as its user, with stdin on
    /// /dev/null and stdout and stderr on the console.
    private static func startWorkload(_ config: GuestConfig, environment: [String]) throws(AgentSystemError) -> pid_t {
        let spec = config.workload
        guard let name = spec.argv.first, let path = CommandRunner.resolve(name, environment: environment) else {
            throw AgentSystemError("start the workload", call: "execve", path: spec.argv.first, errno: ENOENT)
        }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        if null < 0 { throw AgentSystemError("start the workload", call: "open", path: "/dev/null") }
        defer { close(null) }
        let console = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC)
        let output = console >= 0 ? console : 1
        defer { if console >= 0 { close(console) } }
        let cArgv = spec.argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in cArgv { free(pointer) }
            for pointer in cEnv { free(pointer) }
        }
        let groups = config.groups.map { gid_t($0) }
        var result = corral_agent_spawn_result()
        let status = path.withCString { cPath in
            EarlyBoot.withOptionalCString(spec.workingDirectory) { cwd in
                cArgv.withUnsafeBufferPointer { argv in
                    cEnv.withUnsafeBufferPointer { envp in
                        groups.withUnsafeBufferPointer { groupList in
                            var options = corral_agent_spawn_options()
                            options.path = cPath
                            options.argv = argv.baseAddress
                            options.envp = envp.baseAddress
                            options.cwd = cwd
                            options.stdin_fd = null
                            options.stdout_fd = output
                            options.stderr_fd = output
                            options.set_identity = 1
                            options.uid = config.uid
                            options.gid = config.gid
                            options.groups = groupList.baseAddress
                            options.group_count = Int32(groupList.count)
                            return corral_agent_spawn(&options, &result)
                        }
                    }
                }
            }
        }
        guard status == 0 else {
            throw AgentSystemError.spawn(
                "start the workload", result, path: path, workingDirectory: spec.workingDirectory,
                identity: (config.uid, config.gid))
        }
        return result.pid
    }
}
