/// Which accelerator the driver should use: one of them, or `auto` (probe KVM once
/// with a tiny VM, fall back to TCG).
public enum VMAcceleratorChoice: String, Sendable, CaseIterable, Equatable {
    case kvm
    case tcg
    case auto
}
