import ArgumentParser
import CorralCore
import CorralDriverContainer
import CorralDriverProcess
import CorralDriverVM
import CorralEngine
import CorralHost
import CorralImages
import CorralNetwork
import CorralServer
import CorralStore
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// The Corral daemon: the composition root that wires the store, the drivers, the
/// engine and the API listeners into one service group.
@main
struct Corrald: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "corrald",
        abstract: "Run the Corral daemon: instances as processes, containers or microVMs behind one API.",
        discussion: """
            Instances outlive the daemon: stopping or killing corrald leaves them running, \
            and the next corrald on the same state directory re-adopts them.
            """,
        version: version
    )

    @Option(name: .customLong("state-dir"), help: "Where instances, logs and the database live.")
    var stateDirectory: String = Self.defaultStateDirectory

    @Option(help: "Also serve the API over TCP on HOST:PORT (bearer-token auth).")
    var listen: String?

    @Option(name: .customLong("token-file"), help: "File holding the API token for TCP (else $CORRAL_TOKEN).")
    var tokenFile: String?

    @Option(name: .customLong("cgroup-parent"), help: "Cgroup under which instance cgroups are made.")
    var cgroupParent: String = "corral"

    @Option(name: .customLong("default-driver"), help: "Driver for instances that name none.")
    var defaultDriver: String = "process"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    @Option(name: .customLong("max-memory-mb"), help: "Largest memory_mb an instance may ask for.")
    var maxMemoryMB: Int = 65_536

    @Option(name: .customLong("max-vcpus"), help: "Most vcpus an instance may ask for.")
    var maxVCPUs: Int = 64

    @Option(name: .customLong("insecure-registry"), help: "A registry (host:port) reached over plain HTTP. Repeatable.")
    var insecureRegistries: [String] = []

    @Option(name: .customLong("bridge"), help: "The bridge containers are attached to.")
    var bridgeName: String = "corral0"

    @Option(name: .customLong("subnet"), help: "The IPv4 subnet of the bridge (CIDR).")
    var subnet: String = "10.88.0.0/16"

    @Option(name: .customLong("container-runtime"), help: "The OCI runtime new containers run under: crun or runc.")
    var containerRuntime: String = "crun"

    @Option(
        name: .customLong("standbys"),
        help: "Containers started ahead of time for each of the two images started last, so the next instance of one starts in a fraction of the time (0: none)."
    )
    var standbysPerImage: Int = 1

    @Option(name: .customLong("vm-accel"), help: "How VMs run: kvm, tcg, or auto (probe KVM once, else TCG).")
    var vmAccelerator: String = "auto"

    @Option(name: .customLong("vm-machine"), help: "QEMU machine type of VMs: microvm or q35.")
    var vmMachine: String = "microvm"

    @Option(name: .customLong("vm-kernel"), help: "Kernel VMs boot (default: the host's cloud kernel).")
    var vmKernel: String?

    @Option(name: .customLong("vm-boot-timeout"), help: "Seconds a VM may take from QEMU's launch to its agent's ready.")
    var vmBootTimeout: Int = 120

    static var defaultStateDirectory: String {
        if getuid() == 0 { return "/var/lib/corral" }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? "/tmp"
        return "\(home)/.local/share/corral"
    }

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("invalid --log-level '\(logLevel)'")
        }
        if let listen { _ = try Self.parseListen(listen) }
        guard maxMemoryMB >= 4 else { throw ValidationError("invalid --max-memory-mb: must be at least 4") }
        guard maxVCPUs >= 1 else { throw ValidationError("invalid --max-vcpus: must be at least 1") }
        guard OCIRuntimeKind(rawValue: containerRuntime) != nil else {
            throw ValidationError("invalid --container-runtime '\(containerRuntime)': expected crun or runc")
        }
        guard VMAcceleratorChoice(rawValue: vmAccelerator) != nil else {
            throw ValidationError("invalid --vm-accel '\(vmAccelerator)': expected kvm, tcg or auto")
        }
        guard VMMachine(rawValue: vmMachine) != nil else {
            throw ValidationError("invalid --vm-machine '\(vmMachine)': expected microvm or q35")
        }
        guard (0...8).contains(standbysPerImage) else { throw ValidationError("invalid --standbys: must be 0 to 8") }
        guard vmBootTimeout >= 1 else { throw ValidationError("invalid --vm-boot-timeout: must be at least 1 second") }
        if let vmKernel, !vmKernel.hasPrefix("/") {
            throw ValidationError("invalid --vm-kernel '\(vmKernel)': an absolute path is needed")
        }
        guard !cgroupParent.isEmpty, !cgroupParent.contains(".."), !cgroupParent.hasPrefix("/") else {
            throw ValidationError("invalid --cgroup-parent '\(cgroupParent)': a relative cgroup name is needed")
        }
    }

    static func parseListen(_ value: String) throws -> (host: String, port: Int) {
        guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]),
              (1...65_535).contains(port)
        else {
            throw ValidationError("invalid --listen '\(value)': expected HOST:PORT")
        }
        var host = String(value[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "corrald")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let stateDirectory = URL(fileURLWithPath: self.stateDirectory).standardizedFileURL.path
        let store = try SQLiteStateStore(directory: stateDirectory)
        let loaded = try await store.load()

        let images = try ImageStore(
            configuration: .init(root: "\(stateDirectory)/images", insecureRegistries: Set(insecureRegistries)),
            index: store,
            logger: Logger(label: "corral.images")
        )
        if !images.missingTools.isEmpty {
            logger.warning("image store tools missing", metadata: ["tools": "\(images.missingTools.joined(separator: ", "))"])
        }

        let events = DriverEventStream()
        let shimPath = Self.siblingExecutable("corral-shim")
        let processDriver = ProcessDriver(
            stateDirectory: stateDirectory,
            shimPath: shimPath,
            cgroupParent: cgroupParent,
            events: events,
            logger: Logger(label: "corral.driver.process")
        )
        let networking = try makeNetworking(stateDirectory: stateDirectory, leases: store, logger: logger)
        let containerDriver = ContainerDriver(
            stateDirectory: stateDirectory,
            shimPath: shimPath,
            cgroupParent: cgroupParent,
            images: images,
            networking: networking,
            runtime: OCIRuntimeKind(rawValue: containerRuntime) ?? .crun,
            standbyProgram: Self.siblingExecutable("corral-standby"),
            standbysPerImage: standbysPerImage,
            events: events,
            logger: Logger(label: "corral.driver.container")
        )
        let vmDriver = makeVMDriver(
            stateDirectory: stateDirectory, shimPath: shimPath, images: images, networking: networking, events: events,
            logger: logger
        )
        if let networking {
            // Networks of instances that still run are kept (and their ports, which
            // live in this process, published again); the rest are removed.
            var live: [UUID: [PortMapping]] = [:]
            for record in loaded.instances where record.spec.driver == containerDriver.name && record.observed.phase.handle != nil {
                live[record.uuid] = record.spec.ports
            }
            var liveVMs: [UUID: [PortMapping]] = [:]
            for record in loaded.instances where record.spec.driver == vmDriver?.name && record.observed.phase.handle != nil {
                liveVMs[record.uuid] = record.spec.ports
            }
            await networking.recover(live: live, liveVMs: liveVMs)
        }
        await containerDriver.discardLeftoverStandbys()
        let limits = InstanceLimits(memoryMB: 4...maxMemoryMB, vcpus: 1...maxVCPUs)
        let engine = InstanceEngine(
            configuration: .init(limits: limits, defaultDriver: defaultDriver),
            store: store,
            drivers: [processDriver, containerDriver] + (vmDriver.map { [$0] } ?? []),
            exits: events.exits,
            loaded: loaded,
            images: images,
            logger: Logger(label: "corral.engine")
        )
        await engine.probeDrivers()

        var tcp: (host: String, port: Int)?
        if let listen { tcp = try Self.parseListen(listen) }
        let server = CorralServer(
            configuration: .init(
                socketPath: "\(stateDirectory)/corrald.sock",
                tcpHost: tcp?.host,
                tcpPort: tcp?.port,
                token: try tcp.map { _ in try readToken() },
                version: Self.version
            ),
            engine: engine,
            limits: limits,
            defaultDriver: defaultDriver,
            images: DriverAwareImageStore(
                images: images, containers: containerDriver, vm: vmDriver, logger: Logger(label: "corral.images")
            ),
            registry: registry,
            logger: Logger(label: "corral.api")
        )
        let services: [any Service] = [engine] + (try server.services())
        logger.info("corrald starting", metadata: [
            "state": "\(stateDirectory)",
            "instances": "\(loaded.instances.count)",
            "socket": "\(stateDirectory)/corrald.sock",
            "tcp": "\(listen ?? "off")",
        ])
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await group.run()
        await containerDriver.discardStandbys(close: true)
        processDriver.shutdown()
        containerDriver.shutdown()
        vmDriver?.shutdown()
        if let networking {
            await networking.publisher.shutdown()
            networking.bridge.shutdown()
        }
        logger.info("corrald stopped; instances keep running")
    }

    /// The bridge network for containers, or nil (with the reason logged) where this
    /// host cannot have one; containers then get a namespace with loopback only.
    private func makeNetworking(
        stateDirectory: String, leases: any AddressLeaseStore, logger: Logger
    ) throws -> BridgeContainerNetworking? {
        if let reason = BridgeNetwork.unavailabilityReason() {
            logger.warning("containers get no bridge network", metadata: ["reason": "\(reason)"])
            return nil
        }
        guard let parsedSubnet = IPv4Subnet(subnet) else {
            throw ValidationError("invalid --subnet '\(subnet)': expected an IPv4 CIDR such as 10.88.0.0/16")
        }
        let networkLogger = Logger(label: "corral.network")
        let bridge = try BridgeNetwork(
            configuration: .init(bridgeName: bridgeName, subnet: parsedSubnet),
            leases: leases,
            legacyLeaseDirectory: "\(stateDirectory)/network",
            logger: networkLogger
        )
        return BridgeContainerNetworking(
            bridge: bridge,
            publisher: PortPublisher(logger: Logger(label: "corral.network.ports")),
            nameservers: BridgeContainerNetworking.hostNameservers(),
            logger: networkLogger
        )
    }

    /// The `vm` driver where QEMU is installed, else nil (logged). It shares the
    /// containers' bridge: each VM gets a tap on it.
    private func makeVMDriver(
        stateDirectory: String, shimPath: String, images: any ImageProvider, networking: BridgeContainerNetworking?,
        events: any DriverEventSink, logger: Logger
    ) -> VMDriver? {
        guard ExecutableLookup.resolve("qemu-system-x86_64") != nil else {
            logger.notice("no vm driver: qemu-system-x86_64 is not installed (Debian package qemu-system-x86)")
            return nil
        }
        let configuration = VMDriverConfiguration(
            stateDirectory: stateDirectory,
            shimPath: shimPath,
            agentPath: Self.siblingExecutable("corral-agent"),
            cgroupParent: cgroupParent,
            kernelPath: vmKernel,
            accelerator: VMAcceleratorChoice(rawValue: vmAccelerator) ?? .auto,
            machine: VMMachine(rawValue: vmMachine) ?? .microvm,
            bootTimeout: .seconds(vmBootTimeout),
            minimumMemoryMB: 64,
            maximumVCPUs: maxVCPUs
        )
        return VMDriver(
            configuration: configuration,
            images: images,
            networking: networking.map { BridgeVMNetworking(sharing: $0) },
            events: events,
            logger: Logger(label: "corral.driver.vm")
        )
    }

    private func readToken() throws -> String {
        if let tokenFile {
            let text = try String(contentsOfFile: tokenFile, encoding: .utf8)
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw ValidationError("invalid --token-file: \(tokenFile) is empty") }
            return token
        }
        guard let token = ProcessInfo.processInfo.environment["CORRAL_TOKEN"], !token.isEmpty else {
            throw ValidationError("--listen needs a token: set CORRAL_TOKEN or pass --token-file")
        }
        return token
    }

    /// A binary installed next to this one (corral-shim ships beside corrald).
    static func siblingExecutable(_ name: String) -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent(name).path
    }
}
