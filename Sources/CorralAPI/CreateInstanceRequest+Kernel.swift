extension CreateInstanceRequest {
    /// The kernel a `vm` instance boots (Corral extension, after Flintlock's
    /// `kernel` and `initrd`): host files, and parameters merged over the driver's
    /// default command line.
    public struct Kernel: Codable, Sendable, Equatable {
        /// A kernel image on the daemon's host; the driver's default when absent.
        public var path: String?
        /// An initrd on the daemon's host, laid under Corral's own initramfs.
        public var initrd: String?
        /// `key: value` kernel parameters; an empty value is written as the bare key.
        public var cmdline: [String: String]?

        public init(path: String? = nil, initrd: String? = nil, cmdline: [String: String]? = nil) {
            self.path = path
            self.initrd = initrd
            self.cmdline = cmdline
        }

        public static let schema: WireSchema = .object([
            "path": .string, "initrd": .string, "cmdline": .map(.string),
        ])
    }
}
