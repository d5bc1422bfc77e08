import Logging

extension ShimSupervisor.Notice {
    /// A `notify` closure that logs each notice, naming the workload `noun`
    /// (`instance`, `container`).
    public static func logger(_ logger: Logger, noun: String) -> @Sendable (ShimSupervisor.Notice) -> Void {
        { notice in
            switch notice {
            case .adopted(let uuid, let shimPID):
                logger.debug("adopted \(noun)", metadata: ["uuid": "\(uuid)", "shim_pid": "\(shimPID)"])
            case .exited(let uuid, let status):
                logger.debug("\(noun) exited", metadata: ["uuid": "\(uuid)", "status": "\(status.summary)"])
            case .supervisorLost(let uuid, let shimPID):
                logger.warning("corral-shim ended without an exit record; the \(noun) was killed", metadata: [
                    "uuid": "\(uuid)", "shim_pid": "\(shimPID)",
                ])
            }
        }
    }
}
