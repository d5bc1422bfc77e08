import CorralAPI
import CorralCore
import CorralEngine

/// A create request turned into engine requests: one per instance (`replicas + 1`),
/// with the fields Corral cannot honour refused by name rather than ignored.
struct CreatePlan {
    /// The annotation that picks a driver where the client cannot send `driver`.
    static let driverAnnotation = "corral/driver"
    static let maximumReplicas = 256

    var instances: [CreateInstance]
    var autostart: Bool
    var wait: Duration?

    init(_ request: CreateInstanceRequest, limits: InstanceLimits, defaultDriver: String) throws(CorralError) {
        try Self.refuseUnsupported(request)
        let driver = request.driver ?? request.annotations?[Self.driverAnnotation] ?? defaultDriver
        // Whether args may be empty (an image's default command) is the driver's call.
        let args = request.args ?? []
        let replicas = request.replicas ?? 0
        guard replicas >= 0, replicas <= Self.maximumReplicas else {
            throw .invalidArgument("invalid field 'replicas' \(replicas): must be between 0 and \(Self.maximumReplicas)")
        }
        let spec = InstanceSpec(
            driver: driver,
            image: request.image?.url,
            args: args,
            env: request.env ?? [:],
            memoryMB: request.memoryMB ?? limits.defaultMemoryMB,
            vcpus: request.vcpus ?? limits.defaultVCPUs,
            restartPolicy: request.restartPolicy.flatMap { RestartPolicy(rawValue: $0.rawValue) } ?? .never,
            features: try (request.features ?? []).map { (feature) throws(CorralError) in
                guard let known = InstanceFeature(rawValue: feature.rawValue) else {
                    throw .unsupported("unsupported field 'features': feature '\(feature.rawValue)' is not supported")
                }
                return known
            },
            tags: request.tags ?? [],
            annotations: request.annotations ?? [:],
            ports: try (request.ports ?? []).map { (text) throws(CorralError) in try PortMapping(parsing: text) },
            kernel: try Self.kernel(request.kernel, driver: driver),
            volumes: try Self.volumes(request.volumes ?? [], driver: driver)
        )
        if replicas > 0 && !spec.ports.isEmpty {
            throw .invalidArgument("invalid field 'ports': replicas cannot share published host ports")
        }
        autostart = request.autostart ?? false
        wait = try InstanceRoutes.timeout(milliseconds: request.waitTimeoutMs, seconds: request.timeoutS)
        let autostart = self.autostart
        let baseName = request.name
        var pullPolicy = PullPolicy.ifNotPresent
        if case .spec(let image) = request.image, let policy = image.pullPolicy {
            pullPolicy = PullPolicy(rawValue: policy.rawValue) ?? .ifNotPresent
        }
        if case .spec(let image) = request.image, image.credentials != nil || image.headers != nil {
            throw .unsupported("unsupported field 'image.credentials': pull the image first with its credentials (POST /v1/images/pull)")
        }
        instances = (0...replicas).map { index in
            let name = baseName.map { index == 0 ? $0 : "\($0)-\(index)" }
            return CreateInstance(name: name, spec: spec, autostart: autostart, pullPolicy: pullPolicy)
        }
    }

    /// The requested kernel; only drivers that boot one take it.
    private static func kernel(_ kernel: CreateInstanceRequest.Kernel?, driver: String) throws(CorralError) -> KernelSpec? {
        guard let kernel else { return nil }
        guard driver == "vm" else {
            throw .invalidArgument("invalid field 'kernel': the \(driver) driver does not boot a kernel (use driver vm)")
        }
        for (field, path) in [("kernel.path", kernel.path), ("kernel.initrd", kernel.initrd)] {
            if let path, !path.hasPrefix("/") {
                throw .invalidArgument("invalid field '\(field)' '\(path)': must be an absolute path on the daemon's host")
            }
        }
        return KernelSpec(path: kernel.path, initrd: kernel.initrd, cmdline: kernel.cmdline ?? [:])
    }

    /// Volumes created with the instance (`size_mb` and `at`); only the vm driver
    /// attaches them. Existing volumes by name, UUID or host path need a volume
    /// store Corral does not have yet.
    private static func volumes(_ volumes: [CreateInstanceRequest.Volume], driver: String) throws(CorralError) -> [VolumeSpec] {
        guard !volumes.isEmpty else { return [] }
        guard driver == "vm" else {
            throw .invalidArgument("invalid field 'volumes': the \(driver) driver does not attach volumes (use driver vm)")
        }
        var mountPoints: Set<String> = []
        return try volumes.enumerated().map { (index, volume) throws(CorralError) -> VolumeSpec in
            let field = "volumes[\(index)]"
            let unsupported: [(String, Bool)] = [
                ("uuid", volume.uuid != nil), ("name", volume.name != nil), ("host_path", volume.hostPath != nil),
                ("quota_policy", volume.quotaPolicy != nil), ("tags", volume.tags != nil), ("uid", volume.uid != nil),
                ("gid", volume.gid != nil), ("access_mode", volume.accessMode != nil), ("args", volume.args != nil),
            ]
            if let (name, _) = unsupported.first(where: { $0.1 }) {
                throw .unsupported(
                    "unsupported field '\(field).\(name)': Corral creates volumes with their instance only (size_mb and at)")
            }
            if let filesystem = volume.filesystem, filesystem != "ext4" {
                throw .unsupported("unsupported field '\(field).filesystem' '\(filesystem)': volumes are ext4")
            }
            guard let size = volume.sizeMB else {
                throw .invalidArgument("invalid field '\(field).size_mb': required, the size of the volume to create")
            }
            guard (1...VolumeSpec.maximumSizeMB).contains(size) else {
                throw .invalidArgument("invalid field '\(field).size_mb' \(size): must be between 1 and \(VolumeSpec.maximumSizeMB)")
            }
            let parts = volume.at.split(separator: "/", omittingEmptySubsequences: true)
            guard volume.at.hasPrefix("/"), !parts.isEmpty, !parts.contains(".."), !parts.contains(".") else {
                throw .invalidArgument("invalid field '\(field).at' '\(volume.at)': must be an absolute path below /")
            }
            let mountPoint = "/" + parts.joined(separator: "/")
            guard mountPoints.insert(mountPoint).inserted else {
                throw .invalidArgument("invalid field '\(field).at' '\(volume.at)': another volume is mounted there")
            }
            return VolumeSpec(sizeMB: size, mountPoint: mountPoint, readOnly: volume.readonly ?? false)
        }
    }

    /// Fields of the wire that name capabilities Corral does not have yet.
    private static func refuseUnsupported(_ request: CreateInstanceRequest) throws(CorralError) {
        var present: [String] = []
        if request.serviceGroup != nil { present.append("service_group") }
        if let roms = request.roms, !roms.isEmpty { present.append("roms") }
        if let plugins = request.plugins, !plugins.isEmpty { present.append("plugins") }
        if request.template != nil { present.append("template") }
        if let schedules = request.schedules, !schedules.isEmpty { present.append("schedules") }
        if request.autokill != nil { present.append("autokill") }
        if let dependencies = request.dependencies, !dependencies.isEmpty { present.append("dependencies") }
        if request.branchFrom != nil { present.append("branch_from") }
        if request.checkpoint != nil { present.append("checkpoint") }
        if let interfaces = request.networkInterfaces, !interfaces.isEmpty { present.append("network_interfaces") }
        if let gpus = request.gpus, gpus > 0 { present.append("gpus") }
        if request.hostname != nil { present.append("hostname") }
        if request.gateway != nil { present.append("gateway") }
        if request.nameserver != nil { present.append("nameserver") }
        if request.type == .full { present.append("type") }
        if let policy = request.scaleToZero?.policy, policy != .off { present.append("scale_to_zero") }
        if let field = present.first {
            throw .unsupported("unsupported field '\(field)': Corral does not support it yet")
        }
    }
}
