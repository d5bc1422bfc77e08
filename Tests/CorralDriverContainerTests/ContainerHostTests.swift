import CorralCore
import CorralHost
import CorralShimFormat
import Foundation
import Testing

struct ContainerHostTests {
    static let hybridMountinfo = """
    31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
    32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
    35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
    40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
    """

    @Test func hybridHostsAreRecognisedByTheirCoexistingCgroup2Mount() {
        #expect(CgroupLayout.hybridUnifiedMounts(mountinfo: Self.hybridMountinfo) == ["/sys/fs/cgroup/unified"])
        let pureV2 = "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
        #expect(CgroupLayout.hybridUnifiedMounts(mountinfo: pureV2).isEmpty)
        let pureV1 = Self.hybridMountinfo.split(separator: "\n").filter { !$0.contains("cgroup2") }.joined(separator: "\n")
        #expect(CgroupLayout.hybridUnifiedMounts(mountinfo: pureV1).isEmpty)
        let mounts = CgroupLayout.mountPoints(mountinfo: Self.hybridMountinfo)
        #expect(mounts.v1 == ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/systemd"])
    }

    @Test func foreignCgroupDirectoriesAreTheUnmanagedHierarchies() {
        let layout = CgroupLayout.detect(mountinfo: Self.hybridMountinfo)
        let cgroup = InstanceCgroup(layout: layout, parent: "corral", name: "x")
        let all = CgroupLayout.mountPoints(mountinfo: Self.hybridMountinfo)
        let unmanaged = (all.v1 + all.v2).map { "\($0)/corral/x" }.filter { !cgroup.directories.contains($0) }
        #expect(unmanaged == ["/sys/fs/cgroup/systemd/corral/x", "/sys/fs/cgroup/unified/corral/x"])
    }

    @Test func shimParametersCarryMountsAndLauncher() throws {
        let parameters = ShimParameters(
            instanceDirectory: "/state/instances/x",
            executable: "/usr/bin/crun",
            arguments: ["/usr/bin/crun", "run", "--detach", "x"],
            environment: ["PATH=/bin"],
            workingDirectory: "/state/instances/x/bundle",
            cgroup2Directory: nil,
            cgroupJoin: [],
            cgroupMembers: "/sys/fs/cgroup/memory/corral/x/cgroup.procs",
            freezerState: nil,
            cgroupKill: nil,
            oomCounter: nil,
            logBound: 1024,
            privateMounts: .init(
                detach: ["/sys/fs/cgroup/unified"],
                overlay: .init(lower: "/images/a", upper: "/i/upper", work: "/i/work", target: "/i/bundle/rootfs")
            ),
            launcher: .init(pidFile: "/i/init.pid", errorLog: "/i/runtime.log")
        )
        #expect(try ShimParameters.parse(parameters.encode()) == parameters)
        var plain = parameters
        plain.privateMounts = nil
        plain.launcher = nil
        #expect(try ShimParameters.parse(plain.encode()) == plain)
        var orphanOverlay = Array("corral-shim-params 1\0dir\0/d\0exe\0/e\0arg\0e\0cwd\0/\0log_bound\01\0".utf8)
        orphanOverlay += Array("overlay_lower\0/l\0".utf8)
        #expect(throws: ShimFormatError.self) { try ShimParameters.parse(orphanOverlay) }
    }

    @Test func confinedDirectoriesKeepPathsInside() throws {
        let base = NSTemporaryDirectory() + "corral-confined-\(UUID().uuidString.prefix(8))"
        let root = "\(base)/root"
        try FileManager.default.createDirectory(atPath: "\(root)/etc", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(base)/outside", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        try "inside\n".write(toFile: "\(root)/etc/hostname", atomically: true, encoding: .utf8)
        try "outside\n".write(toFile: "\(base)/outside/secret", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(root)/abs", withDestinationPath: "/etc/hostname")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/up", withDestinationPath: "../outside/secret")
        try FileManager.default.createSymbolicLink(atPath: "\(root)/out", withDestinationPath: "../outside")

        let confined = try ConfinedDirectory(path: root)
        #expect(try confined.read("/abs", limit: 100) == Array("inside\n".utf8))
        #expect(try confined.read("/../../etc/hostname", limit: 100) == Array("inside\n".utf8))
        #expect(try confined.read("/up", limit: 100) == nil)
        #expect(throws: SystemCallError.self) { try confined.read("/etc/hostname", limit: 3) }

        #expect(throws: SystemCallError.self) { try confined.write("/out/secret", Array("overwritten".utf8), mode: 0o600) }
        try FileManager.default.createDirectory(atPath: "\(root)/outside", withIntermediateDirectories: true)
        try confined.write("/out/secret", Array("overwritten".utf8), mode: 0o640)
        #expect(try String(contentsOfFile: "\(base)/outside/secret", encoding: .utf8) == "outside\n")
        #expect(try String(contentsOfFile: "\(root)/outside/secret", encoding: .utf8) == "overwritten")
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(root)/outside/secret")
        #expect((attributes[.posixPermissions] as? Int) == 0o640)
    }
}
