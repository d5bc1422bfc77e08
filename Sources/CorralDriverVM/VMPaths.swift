import CorralHost

/// The files of one VM instance, inside its instance directory.
struct VMPaths: Sendable {
    let instance: InstancePaths

    init(_ instance: InstancePaths) {
        self.instance = instance
    }

    var directory: String { instance.directory }
    /// The instance's writable disk: a qcow2 overlay over the image's ext4 base.
    /// Kept across stop and start, removed by `destroy`.
    var overlay: String { instance.file("disk.qcow2") }
    /// The disk of the instance's volume `index`, kept across stop and start like the overlay.
    func volume(_ index: Int) -> String { instance.file("volume-\(index).ext4") }
    var agentSocket: String { instance.file("agent.sock") }
    var qmpSocket: String { instance.file("qmp.sock") }
    /// Corral's initramfs with the user's initrd laid under it, when one is given.
    var combinedInitrd: String { instance.file("initrd.img") }
    /// The workload's exit as the guest agent reported it (an `ExitRecord` naming
    /// the run's shim).
    var workloadExit: String { instance.file("workload-exit") }

    /// Runtime files besides the shim's, by name in the instance directory.
    static let runtimeFiles = ["agent.sock", "qmp.sock", "initrd.img", "workload-exit"]
}
