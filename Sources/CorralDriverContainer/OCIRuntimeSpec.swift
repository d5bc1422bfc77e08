/// The part of the OCI runtime specification (1.0) that Corral writes as a bundle's
/// `config.json`. Field names are the specification's; absent optionals are omitted.
struct OCIRuntimeSpec: Codable, Sendable, Equatable {
    var ociVersion = "1.0.2"
    var process: Process
    var root: Root
    var hostname: String?
    var mounts: [Mount]
    var linux: Linux

    struct Process: Codable, Sendable, Equatable {
        var terminal: Bool
        /// The terminal's size when the process starts (with `terminal`).
        var consoleSize: ConsoleSize?
        var user: User
        var args: [String]
        var env: [String]
        var cwd: String
        var capabilities: Capabilities?
        var noNewPrivileges: Bool?
    }

    struct ConsoleSize: Codable, Sendable, Equatable {
        var height: UInt16
        var width: UInt16
    }

    struct User: Codable, Sendable, Equatable {
        var uid: UInt32
        var gid: UInt32
        var additionalGids: [UInt32]?
    }

    struct Capabilities: Codable, Sendable, Equatable {
        var bounding: [String]
        var effective: [String]
        var inheritable: [String]
        var permitted: [String]
        var ambient: [String]
    }

    struct Root: Codable, Sendable, Equatable {
        var path: String
        var readonly: Bool
    }

    struct Mount: Codable, Sendable, Equatable {
        var destination: String
        var type: String
        var source: String
        var options: [String]?
    }

    struct Linux: Codable, Sendable, Equatable {
        var namespaces: [Namespace]
        var cgroupsPath: String
        var resources: Resources
        var seccomp: Seccomp?
        var maskedPaths: [String]
        var readonlyPaths: [String]
    }

    struct Namespace: Codable, Sendable, Equatable {
        var type: String
        var path: String?
    }

    struct Resources: Codable, Sendable, Equatable {
        var devices: [DeviceRule]
        var memory: Memory?
        var cpu: CPU?
        var pids: Pids?
    }

    struct DeviceRule: Codable, Sendable, Equatable {
        var allow: Bool
        var type: String?
        var major: Int64?
        var minor: Int64?
        var access: String
    }

    struct Memory: Codable, Sendable, Equatable {
        var limit: Int64
        /// Memory plus swap, as cgroup v1 `memsw` counts it.
        var swap: Int64
    }

    struct CPU: Codable, Sendable, Equatable {
        var quota: Int64
        var period: UInt64
    }

    struct Pids: Codable, Sendable, Equatable {
        var limit: Int64
    }

    struct Seccomp: Codable, Sendable, Equatable {
        var defaultAction: String
        var architectures: [String]
        var syscalls: [SyscallRule]
    }

    struct SyscallRule: Codable, Sendable, Equatable {
        var names: [String]
        var action: String
        var errnoRet: UInt32?
        var args: [SyscallArgument]?
    }

    struct SyscallArgument: Codable, Sendable, Equatable {
        var index: UInt32
        var value: UInt64
        var valueTwo: UInt64?
        var op: String
    }
}
