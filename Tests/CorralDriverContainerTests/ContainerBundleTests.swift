import CorralCore
@testable import CorralDriverContainer
import CorralHost
import Foundation
import Testing

struct ContainerBundleTests {
    @Test func argsReplaceCmdAndKeepEntrypointAsDockerDoes() {
        let image = ImageRuntimeConfig(entrypoint: ["/entry"], cmd: ["default", "cmd"])
        #expect(image.command(args: []) == ["/entry", "default", "cmd"])
        #expect(image.command(args: ["mine"]) == ["/entry", "mine"])
        #expect(ImageRuntimeConfig(cmd: ["sh"]).command(args: ["echo", "x"]) == ["echo", "x"])
        #expect(ImageRuntimeConfig().command(args: []).isEmpty)
    }

    @Test func specEnvironmentWinsAndKeepsTheImagesOrder() {
        let image = ImageRuntimeConfig(env: ["PATH=/custom", "A=1", "B=2", "EMPTY"])
        let env = image.environment(overrides: ["B": "spec", "Z": "z", "C": "c"], defaults: [
            ("PATH", "/default"), ("HOME", "/root"),
        ])
        #expect(env == ["PATH=/custom", "A=1", "B=spec", "EMPTY=", "C=c", "Z=z", "HOME=/root"])
    }

    @Test func usersResolveAgainstTheImagesFiles() throws {
        let passwd = [
            ["root", "x", "0", "0", "root", "/root", "/bin/sh"],
            ["app", "x", "1000", "1000", "", "/home/app", "/bin/sh"],
        ]
        let groups = [["root", "x", "0", ""], ["app", "x", "1000", ""], ["extra", "x", "1001", "app,other"], ["web", "x", "33", ""]]
        #expect(try ImageUser.resolve(nil, passwd: passwd, groups: groups) == ImageUser(uid: 0, gid: 0, additionalGids: [], home: "/root"))
        #expect(try ImageUser.resolve("app", passwd: passwd, groups: groups)
            == ImageUser(uid: 1000, gid: 1000, additionalGids: [1001], home: "/home/app"))
        #expect(try ImageUser.resolve("1000:web", passwd: passwd, groups: groups)
            == ImageUser(uid: 1000, gid: 33, additionalGids: [], home: "/home/app"))
        #expect(try ImageUser.resolve("4242", passwd: passwd, groups: groups) == ImageUser(uid: 4242, gid: 0, additionalGids: [], home: "/"))
        #expect(try ImageUser.resolve("4242:77", passwd: passwd, groups: groups).gid == 77)
        #expect(throws: CorralError.self) { try ImageUser.resolve("ghost", passwd: passwd, groups: groups) }
        #expect(throws: CorralError.self) { try ImageUser.resolve("app:ghosts", passwd: passwd, groups: groups) }
    }

    @Test func runtimeSpecCarriesLimitsIsolationAndSeccomp() throws {
        let bundle = ContainerBundle(
            uuid: UUID(), name: "web", spec: InstanceSpec(driver: "container", image: "x", args: ["sh"], memoryMB: 32, vcpus: 2),
            image: ImageRuntimeConfig(), user: .root, rootfs: "/b/rootfs", cgroupsPath: "/corral/u", networkNamespace: nil,
            hostsFile: "/i/hosts", hostnameFile: "/i/hostname", resolvConfFile: nil, maxProcesses: 4096
        )
        let spec = try bundle.runtimeSpec()
        #expect(spec.linux.resources.memory == OCIRuntimeSpec.Memory(limit: 32 << 20, swap: 32 << 20))
        #expect(spec.linux.resources.cpu == OCIRuntimeSpec.CPU(quota: 200_000, period: 100_000))
        #expect(spec.linux.resources.pids?.limit == 4096)
        #expect(spec.linux.cgroupsPath == "/corral/u")
        #expect(Set(spec.linux.namespaces.map(\.type)) == ["pid", "ipc", "uts", "mount", "network", "cgroup"])
        #expect(spec.linux.namespaces.allSatisfy { $0.path == nil })
        #expect(spec.process.capabilities?.bounding.count == 14)
        #expect(spec.process.capabilities?.bounding.contains("CAP_SYS_ADMIN") == false)
        #expect(spec.linux.seccomp?.syscalls.first?.names.contains("kexec_load") == true)
        #expect(spec.hostname == "web")
        #expect(spec.process.cwd == "/")

        let noCommand = ContainerBundle(
            uuid: UUID(), name: "web", spec: InstanceSpec(driver: "container", image: "x", args: [], memoryMB: 32, vcpus: 1),
            image: ImageRuntimeConfig(), user: .root, rootfs: "/r", cgroupsPath: "/c", networkNamespace: "/run/netns/x",
            hostsFile: "/h", hostnameFile: "/n", resolvConfFile: nil, maxProcesses: 1
        )
        #expect(throws: CorralError.self) { try noCommand.runtimeSpec() }
    }
}
