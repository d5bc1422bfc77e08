import CorralCore
import Foundation
import Testing

@testable import CorralVMAssets

/// Boots the real assets under QEMU: the host's cloud kernel, the initramfs with
/// the built corral-agent as /init, an ext4 base of a busybox rootfs under a qcow2
/// overlay. Few boots (each takes seconds under TCG), every wait bounded.
@Suite(.serialized) struct VMBootTests {
    static let bootSeconds = 60.0

    struct Machine {
        let qemu: String
        let kernel: VMKernel
        let initramfs: String
        let scratch: ScratchDirectory
    }

    /// What a boot needs, or nil (with the reason printed) when this host lacks it.
    static func machine() throws -> Machine? {
        guard let qemu = which("qemu-system-x86_64") else {
            print("skipped: qemu-system-x86_64 is not installed")
            return nil
        }
        guard let kernel = try? VMKernel.hostDefault() else {
            print("skipped: no host kernel (install linux-image-cloud-amd64)")
            return nil
        }
        guard let agent = agentPath() else {
            print("skipped: corral-agent is not built next to the tests")
            return nil
        }
        let scratch = try ScratchDirectory()
        let started = ContinuousClock.now
        let initramfs = try InitramfsBuilder(agentPath: agent, cacheDirectory: scratch.path + "/initramfs").initramfs(for: kernel)
        let size = (try? FileManager.default.attributesOfItem(atPath: initramfs)[.size] as? Int) ?? 0
        print("initramfs: \(size) bytes, built in \(ContinuousClock.now - started)")
        return Machine(qemu: qemu, kernel: kernel, initramfs: initramfs, scratch: scratch)
    }

    static func agentPath() -> String? {
        var url = Bundle.main.bundleURL
        if url.pathExtension == "xctest" { url.deleteLastPathComponent() }
        for candidate in [url, Bundle.main.bundleURL.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("corral-agent").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// `cpu MHz` of /proc/cpuinfo × 1000: microvm under TCG needs it as
    /// `tsc_early_khz`, or the kernel hangs calibrating against the PIT.
    static func hostTSCKilohertz() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("cpu MHz") {
            if let value = line.split(separator: ":").last.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }) {
                return Int(value * 1000)
            }
        }
        return nil
    }

    static func launch(_ machine: Machine, extraCommandLine: String, devices: [String]) throws -> Process {
        var append = "console=ttyS0 reboot=t panic=-1 \(extraCommandLine)"
        if let khz = hostTSCKilohertz() { append += " tsc_early_khz=\(khz)" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: machine.qemu)
        process.arguments = [
            "-M", "microvm", "-accel", "tcg", "-m", "256", "-smp", "1", "-nodefaults", "-no-user-config",
            "-display", "none", "-no-reboot", "-kernel", machine.kernel.path, "-initrd", machine.initramfs,
            "-append", append, "-serial", "file:\(machine.scratch.path)/console.log",
        ] + devices
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let errors = FileManager.default.createFile(atPath: machine.scratch.path + "/qemu.err", contents: nil)
        if errors, let handle = FileHandle(forWritingAtPath: machine.scratch.path + "/qemu.err") {
            process.standardError = handle
        }
        try process.run()
        return process
    }

    static func waitForExit(_ process: Process, seconds: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        return !process.isRunning
    }

    static func stop(_ process: Process) {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    @Test func probeBootPrintsTheMarkerAndPowersOff() async throws {
        guard let machine = try Self.machine() else { return }
        let started = Date()
        let process = try Self.launch(machine, extraCommandLine: "corral.probe=1", devices: [])
        defer { Self.stop(process) }
        #expect(await Self.waitForExit(process, seconds: Self.bootSeconds), "QEMU did not exit after the probe")
        print("probe boot: QEMU exited after \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
        let console = (try? String(contentsOfFile: machine.scratch.path + "/console.log", encoding: .utf8)) ?? ""
        #expect(console.contains("corral-agent: probe ok"), "console: \(console.suffix(2000))")
        #expect(process.terminationStatus == 0)
    }

    /// Boots `machine` with a busybox root disk and the agent channel (plus
    /// `extraDevices`). Nil, with the reason printed, when mkfs or busybox is missing.
    static func bootWithDisk(_ machine: Machine, extraDevices: [String] = []) async throws -> (Process, String, Date)? {
        let rootfs = machine.scratch.path + "/rootfs"
        guard which("mkfs.ext4") != nil, try makeBusyboxRootfs(at: rootfs) else {
            print("skipped: mkfs.ext4 or busybox is missing")
            return nil
        }
        let disks = RootDiskBuilder(cacheDirectory: machine.scratch.path + "/disks")
        let building = ContinuousClock.now
        let base = try await disks.baseImage(rootfs: rootfs, digest: "sha256:" + String(repeating: "0f", count: 32))
        print("base image: built in \(ContinuousClock.now - building)")
        let overlay = machine.scratch.path + "/overlay.qcow2"
        try disks.createOverlay(base: base, at: overlay)
        let socketPath = machine.scratch.path + "/agent.sock"
        let started = Date()
        let process = try launch(
            machine, extraCommandLine: "",
            devices: [
                "-drive", "id=root,file=\(overlay),format=qcow2,if=none", "-device", "virtio-blk-device,drive=root",
                "-chardev", "socket,id=agent,path=\(socketPath),server=on,wait=off",
                "-device", "virtio-serial-device", "-device", "virtserialport,chardev=agent,name=corral.agent",
            ] + extraDevices)
        return (process, socketPath, started)
    }

    static func configure(_ client: AgentWireClient, argv: [String], id: UInt32, network: AgentWire.Network? = nil) throws {
        try client.send(
            AgentWire.frame(
                .configure, id,
                AgentWire.configure(argv: argv, environment: ["GREETING=hi-there"], hostname: "bootvm", network: network)))
    }

    /// The guest's interface: QEMU's user-mode network, restricted so the guest
    /// reaches nothing outside QEMU and the host's network is not touched.
    static let network = AgentWire.Network(
        mac: "52:54:00:C0:44:A1", address: "10.0.2.15", prefixLength: 24, gateway: "10.0.2.2", nameserver: "10.0.2.3")

    @Test func bootConfigureServeAndPowerOff() async throws {
        guard let machine = try Self.machine(),
            let (process, socketPath, started) = try await Self.bootWithDisk(
                machine,
                extraDevices: [
                    "-netdev", "user,id=net0,restrict=on",
                    "-device", "virtio-net-device,netdev=net0,mac=\(Self.network.mac.lowercased())",
                ])
        else { return }
        defer { Self.stop(process) }
        try await run(machine: machine, socketPath: socketPath, started: started, process: process)
    }

    @Test func thePowerButtonStopsTheWorkloadGracefully() async throws {
        guard let machine = try Self.machine() else { return }
        let qmpPath = machine.scratch.path + "/qmp.sock"
        guard let (process, socketPath, _) = try await Self.bootWithDisk(
            machine, extraDevices: ["-qmp", "unix:\(qmpPath),server=on,wait=off"])
        else { return }
        defer { Self.stop(process) }
        let client = try await AgentWireClient(path: socketPath, seconds: 10)
        // Runs as nobody with a supplementary group, to show the identity is applied.
        // The file appears whole (renamed into place), so its existence means its content is there.
        let workload = "trap 'echo got-term; exit 3' TERM; id > /tmp/id && mv /tmp/id /tmp/trapped; while true; do sleep 1; done"
        try client.send(
            AgentWire.frame(
                .configure, 1,
                AgentWire.configure(
                    argv: ["sh", "-c", workload], environment: [], hostname: "bootvm",
                    identity: (uid: 65534, gid: 65534, groups: [10, 65534]))))
        #expect(try await client.receive(seconds: Self.bootSeconds).type == AgentWire.MessageType.ok.rawValue)
        #expect(try await client.receive(seconds: 10).type == AgentWire.MessageType.ready.rawValue)
        // `ready` means started, not that the shell has set its trap yet.
        var trapped = false
        for attempt in 0..<50 where !trapped {
            let id = UInt32(100 + attempt)
            try client.send(AgentWire.frame(.exec, id, ["sh", "-c", "test -e /tmp/trapped"].flatMap { AgentWire.field(AgentWire.Tag.argv, $0) }))
            trapped = try await client.receive(seconds: 10).integer(AgentWire.Tag.exitCode) == 0
            if !trapped { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(trapped)
        try client.send(AgentWire.frame(.readFile, 99, AgentWire.field(AgentWire.Tag.path, "/tmp/trapped")))
        let identity = String(decoding: try await client.receive(seconds: 10).first(AgentWire.Tag.data) ?? [], as: UTF8.self)
        #expect(identity.hasPrefix("uid=65534(nobody) gid=65534 groups=10,65534"), "\(identity)")

        let qmp = try await AgentWireClient(path: qmpPath, seconds: 10)
        for command in ["qmp_capabilities", "system_powerdown"] {
            try qmp.send(Array("{\"execute\": \"\(command)\"}\n".utf8))
        }
        let exited = try await client.receive(seconds: 30)
        #expect(exited.type == AgentWire.MessageType.workloadExited.rawValue)
        #expect(exited.integer(AgentWire.Tag.exitCode) == 3)
        try client.send(AgentWire.frame(.ok, exited.requestID, []))
        #expect(await Self.waitForExit(process, seconds: 30), "QEMU did not power off")
        let console = (try? String(contentsOfFile: machine.scratch.path + "/console.log", encoding: .utf8)) ?? ""
        #expect(console.contains("got-term"))
    }

    @Test func aFailedConfigureIsReportedAndPowersOff() async throws {
        guard let machine = try Self.machine(), let (process, socketPath, _) = try await Self.bootWithDisk(machine)
        else { return }
        defer { Self.stop(process) }
        let client = try await AgentWireClient(path: socketPath, seconds: 10)
        try Self.configure(client, argv: ["/no/such/program"], id: 9)
        let reply = try await client.receive(seconds: Self.bootSeconds)
        #expect(reply.type == AgentWire.MessageType.error.rawValue && reply.requestID == 9)
        let message = reply.text(AgentWire.Tag.message) ?? ""
        #expect(message.contains("failed to start the workload") && message.contains("/no/such/program"), "\(message)")
        #expect(await Self.waitForExit(process, seconds: 30), "QEMU did not power off")
        let console = (try? String(contentsOfFile: machine.scratch.path + "/console.log", encoding: .utf8)) ?? ""
        #expect(console.contains("failed to start the workload"))
    }

    private func run(machine: Machine, socketPath: String, started: Date, process: Process) async throws {
        typealias Wire = AgentWire
        let argv = ["sh", "-c", "echo hello-from-guest $GREETING; sleep 30"]
        var client = try await AgentWireClient(path: socketPath, seconds: 10)
        try Self.configure(client, argv: argv, id: 1, network: Self.network)
        let configured = try await client.receive(seconds: Self.bootSeconds)
        #expect(configured.type == Wire.MessageType.ok.rawValue && configured.requestID == 1, "\(configured.text(Wire.Tag.message) ?? "")")
        let ready = try await client.receive(seconds: 10)
        #expect(ready.type == Wire.MessageType.ready.rawValue && ready.requestID == 0)
        let bootClock = Double(ready.integer(2) ?? 0) / 1e9
        print("boot to ready (TCG, microvm): \(String(format: "%.2f", Date().timeIntervalSince(started))) s wall, guest clock \(String(format: "%.2f", bootClock)) s")

        try client.send(Wire.frame(.exec, 2, Wire.field(Wire.Tag.argv, "echo") + Wire.field(Wire.Tag.argv, "hi")))
        let exec = try await client.receive(seconds: 20)
        #expect(exec.type == Wire.MessageType.execResult.rawValue && exec.requestID == 2)
        #expect(exec.first(Wire.Tag.stdout) == Array("hi\n".utf8))
        #expect(exec.integer(Wire.Tag.exitCode) == 0)

        try client.send(
            Wire.frame(
                .exec, 3,
                ["sh", "-c", "echo $GREETING $(hostname) $(cat /etc/hostname); grep -c ' / ext4' /proc/mounts"].flatMap {
                    Wire.field(Wire.Tag.argv, $0)
                }))
        let environment = try await client.receive(seconds: 20)
        #expect(environment.text(Wire.Tag.stdout) == "hi-there bootvm bootvm\n1\n")

        let script = "ip -4 -o addr show; ip route; cat /etc/resolv.conf /etc/hosts"
        try client.send(Wire.frame(.exec, 8, ["sh", "-c", script].flatMap { Wire.field(Wire.Tag.argv, $0) }))
        let network = try await client.receive(seconds: 20).text(Wire.Tag.stdout) ?? ""
        #expect(network.contains("eth0    inet 10.0.2.15/24"), "\(network)")
        #expect(network.contains("lo    inet 127.0.0.1/8"), "\(network)")
        #expect(network.contains("default via 10.0.2.2 dev eth0"), "\(network)")
        #expect(network.contains("nameserver 10.0.2.3\n"))
        #expect(network.contains("10.0.2.15\tbootvm\n"))

        let contents = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        try client.send(
            Wire.frame(
                .writeFile, 4,
                Wire.field(Wire.Tag.path, "/tmp/host-file") + Wire.field(Wire.Tag.mode, integer: 0o600)
                    + Wire.field(Wire.Tag.data, contents)))
        let written = try await client.receive(seconds: 20)
        #expect(written.type == Wire.MessageType.ok.rawValue && written.requestID == 4)
        try client.send(Wire.frame(.readFile, 5, Wire.field(Wire.Tag.path, "/tmp/host-file")))
        let read = try await client.receive(seconds: 20)
        #expect(read.type == Wire.MessageType.fileData.rawValue && read.first(Wire.Tag.data) == contents)

        try client.send(Wire.frame(.metricsRequest, 6, []))
        let metrics = try await client.receive(seconds: 20)
        #expect(metrics.type == Wire.MessageType.metrics.rawValue)
        #expect((metrics.integer(Wire.Tag.memTotal) ?? 0) > 100_000)

        // A restarted daemon reconnects and resends its configuration: equal is fine,
        // different is refused, and the agent keeps serving.
        client.disconnect()
        client = try await AgentWireClient(path: socketPath, seconds: 10)
        try Self.configure(client, argv: argv, id: 10, network: Self.network)
        let again = try await client.receive(seconds: 20)
        #expect(again.type == Wire.MessageType.ok.rawValue && again.requestID == 10)
        try Self.configure(client, argv: ["true"], id: 11)
        let different = try await client.receive(seconds: 20)
        #expect(different.type == Wire.MessageType.error.rawValue && different.requestID == 11)
        #expect(different.text(Wire.Tag.message)?.contains("already configured") == true)

        try client.send(Wire.frame(.shutdown, 7, Wire.field(Wire.Tag.grace, integer: 2000)))
        let stopping = try await client.receive(seconds: 20)
        #expect(stopping.type == Wire.MessageType.ok.rawValue && stopping.requestID == 7)
        let exited = try await client.receive(seconds: 20)
        #expect(exited.type == Wire.MessageType.workloadExited.rawValue)
        #expect(exited.requestID != 0)
        #expect(exited.integer(Wire.Tag.signal) == Int64(SIGTERM))
        try client.send(Wire.frame(.ok, exited.requestID, []))

        #expect(await Self.waitForExit(process, seconds: 30), "QEMU did not power off")
        let console = (try? String(contentsOfFile: machine.scratch.path + "/console.log", encoding: .utf8)) ?? ""
        #expect(console.contains("hello-from-guest hi-there"), "console: \(console.suffix(3000))")
        #expect(console.contains("reboot: Power down"))
    }
}
