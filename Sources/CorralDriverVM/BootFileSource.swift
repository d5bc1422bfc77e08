/// Where the kernel (or initrd) of a VM comes from: the instance's own host file
/// wins over the image's label, which wins over the daemon's default.
enum BootFileSource: Sendable, Equatable {
    /// A host path from the instance's `kernel` spec.
    case instance(String)
    /// A path inside the image's rootfs, from its label.
    case image(String)
    /// The daemon's configured kernel or the host's (for an initrd: none).
    case daemon

    static func chosen(instance: String?, image: String?) -> BootFileSource {
        if let instance { return .instance(instance) }
        if let image { return .image(image) }
        return .daemon
    }

    /// The initrd: as `chosen`, except that an instance booting a kernel of its own
    /// does not get the image's initrd, which was made for another kernel.
    static func initrd(instanceKernel: String?, instance: String?, image: String?) -> BootFileSource {
        chosen(instance: instance, image: instanceKernel == nil ? image : nil)
    }
}
