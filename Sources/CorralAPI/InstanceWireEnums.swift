/// The states an instance reports on the wire: exactly Unikraft Cloud's.
public enum WireInstanceState: String, WireEnum {
    case stopped
    case starting
    case running
    case draining
    case stopping
    case template
    case standby
    case deleted
    case checkpoint
}

/// When an instance that stopped on its own is started again.
public enum WireRestartPolicy: String, WireEnum {
    case never
    case always
    case onFailure = "on-failure"
}

/// Optional behaviours of an instance, named as on the wire.
public enum WireInstanceFeature: String, WireEnum {
    case deleteOnStop = "delete-on-stop"
    case nestedVirt = "nested-virt"
}

/// The instance properties `PATCH /v1/instances/{id}` can change.
public enum WireInstanceProperty: String, WireEnum {
    case image
    case args
    case env
    case memoryMB = "memory_mb"
    case vcpus
    case scaleToZero = "scale_to_zero"
    case tags
    case deleteLock = "delete_lock"
    case schedules
    case autokill
    case hostname
    case roms
    case dependencies
    case schedPriority = "sched_priority"
    case plugins
    case annotations
}

/// How `PATCH /v1/instances/{id}` applies its value to the property.
public enum WireUpdateOperation: String, WireEnum {
    case set
    case add
    case del
}

/// When an image is pulled.
public enum WirePullPolicy: String, WireEnum {
    case always
    case ifNotPresent = "if_not_present"
    case never
}

/// The scale-to-zero policy of an instance.
public enum WireScaleToZeroPolicy: String, WireEnum {
    case off
    case on
    case idle
}

/// The scheduling priority of an instance.
public enum WireSchedPriority: String, WireEnum {
    case normal
    case medium
    case high
    case admin
}

/// The kind of virtual machine in Unikraft Cloud; accepted for compatibility.
public enum WireInstanceType: String, WireEnum {
    case micro
    case full
}

/// The volume sharing mode.
public enum WireVolumeAccessMode: String, WireEnum {
    case rwo
    case rox
    case rwx
}

/// The action of a scheduled operation.
public enum WireScheduleAction: String, WireEnum {
    case start
    case stop
    case delete
    case exec
}

/// The transport protocol of a published service.
public enum WireServiceProtocol: String, WireEnum {
    case tcp
    case udp
}

/// A connection handler of a published service.
public enum WireConnectionHandler: String, WireEnum {
    case tls
    case http
    case redirect
}
