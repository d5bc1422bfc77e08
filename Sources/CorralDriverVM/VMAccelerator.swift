/// How QEMU runs guest code. Wire and option names are the raw values.
public enum VMAccelerator: String, Sendable, CaseIterable, Equatable {
    /// Hardware virtualization through /dev/kvm.
    case kvm
    /// QEMU's own binary translator: slow, works everywhere.
    case tcg
}
