import CCorralSpawn
import CorralCore
import CorralHost
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ContainerDriver {
    /// Whether containers can run here: root, crun and its version, corral-shim,
    /// the cgroup layout (and what is done about a hybrid one), overlayfs, and
    /// `openat2` for file access. Never throws.
    public func probe() async -> DriverProbe {
        var probe = DriverProbe(available: true, notes: [])

        if getuid() != 0 { probe.missing("not running as root: creating containers needs it") }
        if FileSystem.isExecutableFile(supervisor.shimPath) {
            probe.notes.append("corral-shim: \(supervisor.shimPath)")
        } else {
            probe.missing("corral-shim missing or not executable at \(supervisor.shimPath)")
        }
        if let error = supervisor.watcherFailure { probe.missing("cannot watch processes: \(error)") }

        if let watcher = try? supervisor.watcher("probe") {
            for kind in OCIRuntimeKind.allCases {
                let chosen = kind == runtimeKind ? " (new containers)" : ""
                guard let runtime = runtimes[kind] else {
                    if kind == runtimeKind { probe.missing("\(kind.rawValue) not found on PATH (Debian package \(kind.rawValue))") }
                    continue
                }
                switch await runtime.version(watcher: watcher) {
                case .success(let version):
                    probe.notes.append("\(runtime.name)\(chosen): \(runtime.executable) (\(version)), state in \(runtime.stateRoot)")
                case .failure(let error):
                    if kind == runtimeKind {
                        probe.missing("\(runtime.name) at \(runtime.executable) does not run: \(error.message)")
                    } else {
                        probe.notes.append("\(runtime.name) at \(runtime.executable) does not run: \(error.message)")
                    }
                }
            }
        }

        let layout = supervisor.layout
        probe.notes.append(layout.summary)
        switch layout {
        case .none:
            probe.missing("no cgroup file system: containers need cgroups for their limits")
        case .v1(let mounts):
            for controller in [CgroupLayout.CgroupController.memory, .cpu, .pids] where mounts[controller] == nil {
                probe.notes.append("cgroup v1 controller \(controller.rawValue) not mounted: its limit is off")
            }
            if mounts[.freezer] == nil { probe.notes.append("cgroup v1 freezer not mounted: suspend is unavailable") }
        case .v2:
            break
        }
        if !hiddenMounts.isEmpty {
            let controllers = hiddenMounts.map { mount -> String in
                let text = ((try? FileSystem.readText("\(mount)/cgroup.controllers")) ?? "")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                return "\(mount) (controllers: \(text.isEmpty ? "none" : text))"
            }
            probe.notes.append(
                "hybrid cgroup host: cgroup2 at \(controllers.joined(separator: ", ")) beside the v1 controllers; "
                    + "crun refuses hybrid hosts ('cgroups in hybrid mode not supported'), so corral-shim and every runtime "
                    + "invocation run in a private mount namespace with \(hiddenMounts.joined(separator: ", ")) unmounted, "
                    + "and containers use the v1 hierarchies"
            )
        }

        let filesystems = (try? FileSystem.readText("/proc/filesystems")) ?? ""
        if filesystems.split(separator: "\n").contains(where: { $0.hasSuffix("\toverlay") }) {
            probe.notes.append("overlayfs: available")
        } else {
            probe.missing("overlayfs not in /proc/filesystems (modprobe overlay): container roots need it")
        }

        let root = corral_open_directory_path("/")
        let opened = root >= 0 ? corral_open_in_root(root, ".", O_RDONLY | O_DIRECTORY, 0) : -1
        let openat2Errno = opened < 0 ? errno : 0
        if opened >= 0 { close(opened) }
        if root >= 0 { close(root) }
        if openat2Errno == ENOSYS { probe.notes.append("openat2 unsupported (Linux < 5.6): file access to containers fails") }

        probe.notes.append(networking == nil ? "network: none configured; each container gets its own namespace with loopback only"
                                             : "network: attached by the configured network provider")
        probe.notes.append("capabilities: \(capabilities.names.joined(separator: ", "))")
        return probe
    }

}
