/// A port of an instance published on the host's loopback.
public struct PortMapping: Codable, Sendable, Hashable, CustomStringConvertible {
    public var hostPort: Int
    public var instancePort: Int

    public init(hostPort: Int, instancePort: Int) {
        self.hostPort = hostPort
        self.instancePort = instancePort
    }

    /// Parses `HOSTPORT:INSTANCEPORT` with an optional `/tcp`; only TCP is published.
    public init(parsing text: String) throws(CorralError) {
        var body = Substring(text)
        if let slash = body.firstIndex(of: "/") {
            let proto = body[body.index(after: slash)...]
            guard proto == "tcp" else {
                throw .unsupported("unsupported port '\(text)': only tcp ports can be published")
            }
            body = body[..<slash]
        }
        let parts = body.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let host = Int(parts[0]), let instance = Int(parts[1]),
              (1...65_535).contains(host), (1...65_535).contains(instance)
        else {
            throw .invalidArgument("invalid port '\(text)': expected HOSTPORT:INSTANCEPORT with ports between 1 and 65535")
        }
        self.init(hostPort: host, instancePort: instance)
    }

    public var description: String { "\(hostPort):\(instancePort)/tcp" }
}
