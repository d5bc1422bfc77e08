import CorralCore

/// What an image asks of the VM that boots it, from its OCI config labels:
/// `org.corral.vm.kernel` and `org.corral.vm.initrd` name files inside the image's
/// rootfs, `org.corral.vm.cmdline` holds kernel parameters (`a=b c quiet`) laid
/// over the driver's defaults.
struct ImageBootLabels: Sendable, Equatable {
    static let kernelLabel = "org.corral.vm.kernel"
    static let initrdLabel = "org.corral.vm.initrd"
    static let cmdlineLabel = "org.corral.vm.cmdline"

    /// An absolute path inside the image without `..` components, or nil.
    var kernel: String?
    /// An absolute path inside the image without `..` components, or nil.
    var initrd: String?
    /// The parameters in the label's order; empty without the label.
    var cmdline: KernelCommandLine

    init(kernel: String? = nil, initrd: String? = nil, cmdline: KernelCommandLine = KernelCommandLine()) {
        self.kernel = kernel
        self.initrd = initrd
        self.cmdline = cmdline
    }

    /// Parses the labels it knows and ignores the rest. Throws `invalidArgument`
    /// naming the label when a path is not absolute, is empty or holds `..`, or a
    /// parameter could not be read back by the kernel (quotes, backslashes,
    /// control characters, an empty key).
    init(labels: [String: String]) throws(CorralError) {
        kernel = try Self.path(labels[Self.kernelLabel], label: Self.kernelLabel)
        initrd = try Self.path(labels[Self.initrdLabel], label: Self.initrdLabel)
        cmdline = try Self.parameters(labels[Self.cmdlineLabel] ?? "")
    }

    static func path(_ value: String?, label: String) throws(CorralError) -> String? {
        guard let value else { return nil }
        guard value.hasPrefix("/"), value.count > 1 else {
            throw .invalidArgument("failed to start instance: image label \(label) '\(value)' is not an absolute path")
        }
        guard !value.split(separator: "/").contains("..") else {
            throw .invalidArgument("failed to start instance: image label \(label) '\(value)' may not contain '..'")
        }
        return value
    }

    /// `a=b c quiet` as ordered pairs (`c` and `quiet` with empty values); a later
    /// key replaces an earlier one.
    static func parameters(_ text: String) throws(CorralError) -> KernelCommandLine {
        var line = KernelCommandLine()
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }) {
            let parts = word.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : ""
            do throws(CorralError) {
                try KernelCommandLine.check(key: key, value: value)
            } catch {
                throw .invalidArgument("failed to start instance: image label \(cmdlineLabel): \(error.message)")
            }
            line[key] = value
        }
        return line
    }
}
