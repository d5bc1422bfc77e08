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
