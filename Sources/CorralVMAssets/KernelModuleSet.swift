/// The kernel modules a guest needs that its kernel does not build in, in an order
/// they can be loaded in, resolved from the kernel's `modules.dep`.
///
/// `modules.dep` lists every loadable module (`kernel/drivers/block/virtio_blk.ko:
/// kernel/drivers/virtio/virtio.ko ...`); a module absent from it is built in (or
/// not available at all) and needs no file.
struct KernelModuleSet: Sendable, Equatable {
    /// What the guest needs: virtio over MMIO (microvm) and PCI (q35), block, net,
    /// console, entropy (virtio-rng, when the host gives the guest one), ext4 with
    /// whatever it depends on, and the ACPI power button with the input events it
    /// is read through.
    static let guestModules = [
        "virtio_mmio", "virtio_pci", "virtio_blk", "virtio_net", "virtio_console", "virtio_rng", "ext4", "button",
        "evdev",
    ]

    /// Paths relative to the modules directory, dependencies before dependents.
    var paths: [String]

    init(paths: [String]) {
        self.paths = paths
    }

    /// Resolves `wanted` (module names; `-` and `_` are the same) and their
    /// dependencies against the text of a `modules.dep`. Names that are not
    /// loadable modules are skipped.
    init(modulesDep: String, wanted: [String] = guestModules) {
        var dependencies: [String: [String]] = [:]
        var pathByName: [String: String] = [:]
        for line in modulesDep.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let path = String(line[..<colon]).trimmingSpaces()
            guard !path.isEmpty else { continue }
            pathByName[Self.moduleName(path)] = path
            dependencies[path] = line[line.index(after: colon)...].split(separator: " ").map(String.init)
        }
        var ordered: [String] = []
        var visited: Set<String> = []
        // Depth-first, dependencies first; bounded by the number of modules.
        func visit(_ path: String, depth: Int) {
            guard depth <= dependencies.count, !visited.contains(path) else { return }
            visited.insert(path)
            for dependency in dependencies[path] ?? [] { visit(dependency, depth: depth + 1) }
            ordered.append(path)
        }
        for name in wanted {
            if let path = pathByName[Self.normalized(name)] { visit(path, depth: 0) }
        }
        paths = ordered
    }

    /// `kernel/net/core/failover.ko.xz` → `failover`; `-` becomes `_`.
    static func moduleName(_ path: String) -> String {
        var name = Substring(path.split(separator: "/").last ?? Substring(path))
        for suffix in [".xz", ".zst", ".gz"] where name.hasSuffix(suffix) { name = name.dropLast(suffix.count) }
        if name.hasSuffix(".ko") { name = name.dropLast(3) }
        return normalized(String(name))
    }

    static func normalized(_ name: String) -> String {
        String(name.map { $0 == "-" ? "_" : $0 })
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
