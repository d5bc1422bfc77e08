import CorralHost

/// The files of one container instance, inside its instance directory.
struct ContainerPaths: Sendable {
    let instance: InstancePaths

    init(_ instance: InstancePaths) {
        self.instance = instance
    }

    var directory: String { instance.directory }
    var bundle: String { instance.file("bundle") }
    var config: String { "\(bundle)/config.json" }
    var rootfs: String { "\(bundle)/rootfs" }
    var upper: String { instance.file("upper") }
    var work: String { instance.file("work") }
    var initPID: String { instance.file("init.pid") }
    var runtimeLog: String { instance.file("runtime.log") }
    var hosts: String { instance.file("hosts") }
    var hostname: String { instance.file("hostname") }
    var resolvConf: String { instance.file("resolv.conf") }

    /// Runtime files besides the shim's, by name in the instance directory.
    static let runtimeFiles = ["init.pid", "runtime.log", "hosts", "hostname", "resolv.conf"]
}
