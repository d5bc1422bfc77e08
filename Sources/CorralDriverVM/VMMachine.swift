/// The QEMU machine type.
public enum VMMachine: String, Sendable, CaseIterable, Equatable {
    /// virtio-mmio devices, no PCI, no firmware tables beyond the minimum, ISA serial.
    case microvm
    /// A PC with PCIe; virtio devices on PCI.
    case q35
}
