/// Which cgroup hierarchies this host mounts, read from `/proc/self/mountinfo`.
///
/// A host with any v1 resource controller mounted is treated as v1 (this includes
/// the hybrid layout, where a cgroup2 mount at `/sys/fs/cgroup/unified` owns no
/// resource controller). Only a host without v1 resource controllers uses the
/// unified hierarchy.
public enum CgroupLayout: Sendable, Equatable {
    /// cgroup v1: each controller Corral uses, mapped to its mount point. Co-mounted
    /// controllers (`cpu,cpuacct`) share a mount point.
    case v1(mounts: [CgroupController: String])
    /// The unified hierarchy, mounted at `mount`.
    case v2(mount: String)
    /// No usable cgroup file system.
    case none

    /// The controllers Corral places instances in.
    public enum CgroupController: String, Sendable, CaseIterable, Hashable {
        case memory
        case cpu
        case cpuacct
        case pids
        case freezer
    }

    /// The layout of the running host; `.none` when mountinfo cannot be read.
    public static func current() -> CgroupLayout {
        guard let text = try? FileSystem.readText("/proc/self/mountinfo") else { return .none }
        return detect(mountinfo: text)
    }

    /// The layout described by the text of a `mountinfo` file.
    public static func detect(mountinfo: String) -> CgroupLayout {
        var v1: [CgroupController: String] = [:]
        var unified: [String] = []
        for line in mountinfo.split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1, omittingEmptySubsequences: false)
            guard halves.count == 2 else { continue }
            let mountFields = halves[0].split(separator: " ")
            let fsFields = halves[1].split(separator: " ")
            guard mountFields.count >= 5, fsFields.count >= 3 else { continue }
            let mountPoint = unescape(String(mountFields[4]))
            switch fsFields[0] {
            case "cgroup":
                for option in fsFields[2].split(separator: ",") {
                    if let controller = CgroupController(rawValue: String(option)), v1[controller] == nil {
                        v1[controller] = mountPoint
                    }
                }
            case "cgroup2":
                unified.append(mountPoint)
            default:
                continue
            }
        }
        if !v1.isEmpty { return .v1(mounts: v1) }
        if let mount = unified.first(where: { $0 == "/sys/fs/cgroup" }) ?? unified.first { return .v2(mount: mount) }
        return .none
    }

    /// A one-line account for probes and logs.
    public var summary: String {
        switch self {
        case .v1(let mounts):
            let parts = CgroupController.allCases.map { controller in
                "\(controller.rawValue) at \(mounts[controller] ?? "(missing)")"
            }
            return "cgroup v1: " + parts.joined(separator: ", ")
        case .v2(let mount):
            return "cgroup v2 at \(mount)"
        case .none:
            return "no cgroup file system mounted"
        }
    }

    /// Mountinfo escapes space, tab, newline and backslash as three octal digits.
    static func unescape(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var bytes: [UInt8] = []
        let source = Array(field.utf8)
        var index = 0
        while index < source.count {
            if source[index] == UInt8(ascii: "\\"), index + 3 < source.count,
               let value = UInt8(String(decoding: source[(index + 1)...(index + 3)], as: UTF8.self), radix: 8) {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(source[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
