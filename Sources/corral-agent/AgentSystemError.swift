import CCorralSpawn
import Glibc

/// A failed system call of the agent, reported to the host as
/// `failed to <action>: <call> <path>: <reason>`.
struct AgentSystemError: Error, CustomStringConvertible {
    let action: String
    let call: String
    let path: String?
    let errno: Int32

    init(_ action: String, call: String, path: String? = nil, errno: Int32 = Glibc.errno) {
        self.action = action
        self.call = call
        self.path = path
        self.errno = errno
    }

    var description: String {
        let reason = String(cString: strerror(errno))
        if let path { return "failed to \(action): \(call) \(path): \(reason)" }
        return "failed to \(action): \(call): \(reason)"
    }
}

extension AgentSystemError {
    /// The failure `corral_agent_spawn` reported, naming the step of the child that failed.
    static func spawn(
        _ action: String, _ result: corral_agent_spawn_result, path: String, workingDirectory: String?,
        identity: (uid: UInt32, gid: UInt32)? = nil
    ) -> AgentSystemError {
        let call: String
        switch Int(result.stage) {
        case Int(CORRAL_AGENT_SPAWN_CHDIR): call = "chdir \(workingDirectory ?? "")"
        case Int(CORRAL_AGENT_SPAWN_IDENTITY): call = identity.map { "setuid/setgid \($0.uid):\($0.gid)" } ?? "setuid/setgid"
        case Int(CORRAL_AGENT_SPAWN_TERMINAL): call = "ioctl TIOCSCTTY"
        case Int(CORRAL_AGENT_SPAWN_EXEC): call = "execve"
        default: call = "spawn"
        }
        return AgentSystemError(action, call: call, path: path, errno: result.error)
    }
}
