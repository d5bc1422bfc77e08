/// The kernel a `vm` instance boots, when it is not the driver's default
/// (Flintlock's `kernel{image, filename, cmdline}` and `initrd`, for host files).
public struct KernelSpec: Codable, Sendable, Equatable {
    /// A kernel image on the host (bzImage or vmlinuz); nil boots the driver's default.
    public var path: String?
    /// An initrd on the host, laid under Corral's own initramfs (its `/init` is the agent's).
    public var initrd: String?
    /// Kernel parameters merged over the driver's defaults, key by key. An empty
    /// value is written as the bare key (`quiet`).
    public var cmdline: [String: String]

    public init(path: String? = nil, initrd: String? = nil, cmdline: [String: String] = [:]) {
        self.path = path
        self.initrd = initrd
        self.cmdline = cmdline
    }

    enum CodingKeys: String, CodingKey {
        case path, initrd, cmdline
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.decodeIfPresent(String.self, forKey: .path)
        initrd = try c.decodeIfPresent(String.self, forKey: .initrd)
        cmdline = try c.decodeIfPresent([String: String].self, forKey: .cmdline) ?? [:]
    }
}
