import CorralHost
import Testing

struct CgroupLayoutTests {
    @Test func hybridHostIsV1WithSeparateCPUAndCPUAcct() {
        let mountinfo = """
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """
        let layout = CgroupLayout.detect(mountinfo: mountinfo)
        #expect(layout == .v1(mounts: [
            .cpu: "/sys/fs/cgroup/cpu", .cpuacct: "/sys/fs/cgroup/cpuacct", .memory: "/sys/fs/cgroup/memory",
            .freezer: "/sys/fs/cgroup/freezer", .pids: "/sys/fs/cgroup/pids",
        ]))
        let cgroup = InstanceCgroup(layout: layout, parent: "corral", name: "abc")
        #expect(cgroup.directories.count == 5)
        #expect(cgroup.freezerStateFile == "/sys/fs/cgroup/freezer/corral/abc/freezer.state")
        #expect(cgroup.oomCounterFile == "/sys/fs/cgroup/memory/corral/abc/memory.oom_control")
    }

    @Test func coMountedControllersShareOneDirectory() {
        let mountinfo = """
        32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
        35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
        """
        let cgroup = InstanceCgroup(layout: CgroupLayout.detect(mountinfo: mountinfo), parent: "p", name: "n")
        #expect(cgroup.directories == ["/sys/fs/cgroup/memory/p/n", "/sys/fs/cgroup/cpu,cpuacct/p/n"])
    }

    @Test func unifiedOnlyHostIsV2() {
        let mountinfo = "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
        #expect(CgroupLayout.detect(mountinfo: mountinfo) == .v2(mount: "/sys/fs/cgroup"))
        #expect(CgroupLayout.detect(mountinfo: "") == .none)
    }
}
