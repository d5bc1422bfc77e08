/// The cgroup mounts beyond the hierarchies Corral places instances in.
extension CgroupLayout {
    /// Every cgroup (v1) and cgroup2 mount point in a `mountinfo` text, in order.
    public static func mountPoints(mountinfo: String) -> (v1: [String], v2: [String]) {
        var v1: [String] = []
        var v2: [String] = []
        for line in mountinfo.split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1, omittingEmptySubsequences: false)
            guard halves.count == 2 else { continue }
            let mountFields = halves[0].split(separator: " ")
            let fsFields = halves[1].split(separator: " ")
            guard mountFields.count >= 5, let type = fsFields.first else { continue }
            let mountPoint = unescape(String(mountFields[4]))
            if type == "cgroup" { v1.append(mountPoint) }
            if type == "cgroup2" { v2.append(mountPoint) }
        }
        return (v1, v2)
    }

    /// The cgroup2 mounts that coexist with v1 hierarchies (the "hybrid" layout,
    /// typically `/sys/fs/cgroup/unified`); empty on a pure v1 or pure v2 host.
    ///
    /// crun 1.8 refuses to run on such a host when the cgroup2 mount owns any
    /// controller; it runs with the v1 hierarchies alone once these mounts are
    /// gone from its mount namespace.
    public static func hybridUnifiedMounts(mountinfo: String) -> [String] {
        let mounts = mountPoints(mountinfo: mountinfo)
        return mounts.v1.isEmpty ? [] : mounts.v2
    }
}
