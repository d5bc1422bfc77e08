import CCorralSpawn
import CorralAgentProtocol
import Glibc

/// What PID 1 does in the initramfs before it hears from the host.
enum EarlyBoot {
    /// The kernel modules to load, one absolute path a line, in dependency order.
    static let moduleListPath = "/etc/corral/modules"

    /// Mounts /proc, /sys and /dev (devtmpfs) and puts stdin, stdout and stderr on
    /// /dev/console. A mount that fails is reported and skipped.
    static func mountPseudoFileSystems() {
        let mounts: [(source: String, target: String, type: String, flags: UInt, data: String?)] = [
            ("proc", "/proc", "proc", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), nil),
            ("sysfs", "/sys", "sysfs", UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC), nil),
            ("devtmpfs", "/dev", "devtmpfs", UInt(MS_NOSUID), "mode=0755"),
        ]
        for entry in mounts {
            // /proc may be there already: see `corral_agent_early_proc`.
            if entry.type == "proc", access("/proc/self", F_OK) == 0 { continue }
            _ = mkdir(entry.target, 0o755)
            let status = withOptionalCString(entry.data) { data in
                corral_agent_mount(entry.source, entry.target, entry.type, entry.flags, data)
            }
            if status != 0, errno != EBUSY {
                Console.print(AgentSystemError("mount \(entry.type)", call: "mount", path: entry.target).description)
            }
        }
        let console = open("/dev/console", O_RDWR | O_NOCTTY)
        if console >= 0 {
            for fd in Int32(0)...2 where fcntl(fd, F_GETFD) < 0 { dup2(console, fd) }
            if console > 2 { close(console) }
        }
    }

    /// Loads every module of `moduleListPath` in order. Already loaded modules
    /// are fine; any other failure is printed and loading goes on.
    static func loadModules() {
        guard let list = try? GuestFiles.read(path: moduleListPath, limit: 1 << 20) else { return }
        for line in String(decoding: list, as: UTF8.self).split(separator: "\n") {
            let path = line.trimmingWhitespace()
            if path.isEmpty || path.hasPrefix("#") { continue }
            if corral_agent_load_module(path) != 0, errno != EEXIST {
                Console.print(AgentSystemError("load module", call: "finit_module", path: path).description)
            }
        }
    }

    /// `/proc/cmdline`, or empty when it cannot be read.
    static func kernelCommandLine() -> String {
        guard let bytes = try? GuestFiles.read(path: "/proc/cmdline", limit: 1 << 16) else { return "" }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Whether the command line carries `word` as one of its parameters.
    static func commandLine(_ cmdline: String, has word: String) -> Bool {
        cmdline.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).contains { $0 == word }
    }

    /// `/dev/<port>` of the virtio-serial port named `name`, found through sysfs
    /// (no udev makes `/dev/virtio-ports/` links here), waiting at most `milliseconds`
    /// for it to appear.
    static func findPort(named name: String, milliseconds: Int64) -> String? {
        let deadline = monotonicMilliseconds() + milliseconds
        repeat {
            for port in (try? GuestDirectory.entries("/sys/class/virtio-ports")) ?? [] {
                guard let found = try? GuestFiles.read(path: "/sys/class/virtio-ports/\(port)/name", limit: 4096) else {
                    continue
                }
                if String(decoding: found, as: UTF8.self).trimmingWhitespace() == name { return "/dev/\(port)" }
            }
            usleep(20_000)
        } while monotonicMilliseconds() < deadline
        return nil
    }

    static func withOptionalCString<R>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
        guard let text else { return body(nil) }
        return text.withCString { body($0) }
    }
}
