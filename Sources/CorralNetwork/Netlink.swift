import CCorralNetlink
import CorralCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An instance's namespace and veth made, read and removed in-process over
/// rtnetlink: each step is one request the kernel acknowledges, where `ip`
/// costs a process per step. Synchronous; acts in the calling thread's network
/// namespace (the bridge's), entering the instance's only on a thread of its own.
enum Netlink {
    /// What `attachVeth` makes.
    struct VethRequest {
        var hostName: String
        var alias: String
        var bridge: String
        var peerName: String
        var peerMAC: MACAddress
        var namespacePath: String
        var address: IPv4Address
        var prefixLength: Int
        var gateway: IPv4Address
    }

    /// A failed request: what failed and the kernel's errno.
    struct Failure: Error {
        var step: String
        var errno: Int32

        var reason: String { "\(step): \(String(cString: strerror(errno)))" }
    }

    /// Creates an empty network namespace bound at `path`, which must not exist.
    static func addNamespace(_ path: String) throws(Failure) {
        try check { step in corral_netns_add(path, step) }
    }

    /// Unmounts and removes the namespace at `path`; nothing when it is absent.
    static func deleteNamespace(_ path: String) throws(Failure) {
        try check { step in corral_netns_delete(path, step) }
    }

    /// Creates the pair and configures both ends (see `corral_veth_attach`); on a
    /// failure nothing of the pair is left.
    static func attachVeth(_ request: VethRequest) throws(Failure) {
        let mac = request.peerMAC.octets
        try check { step in
            request.hostName.withCString { host in
                request.alias.withCString { alias in
                    request.bridge.withCString { bridge in
                        request.peerName.withCString { peer in
                            request.namespacePath.withCString { namespace in
                                var c = corral_veth_request()
                                c.host_name = host
                                c.alias = alias
                                c.bridge = bridge
                                c.peer_name = peer
                                c.peer_mac = (mac[0], mac[1], mac[2], mac[3], mac[4], mac[5])
                                c.netns_path = namespace
                                c.address = request.address.value.bigEndian
                                c.prefix_length = UInt8(request.prefixLength)
                                c.gateway = request.gateway.value.bigEndian
                                return corral_veth_attach(&c, step)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Deletes the link `name` (a veth takes its peer with it); nothing when absent.
    static func deleteLink(_ name: String) throws(Failure) {
        try check { step in corral_link_delete(name, step) }
    }

    /// The alias of link `name` ("" when it has none), or nil when there is no such link.
    static func alias(of name: String) throws(Failure) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        var step: UnsafePointer<CChar>?
        let result = buffer.withUnsafeMutableBufferPointer { corral_link_alias(name, $0.baseAddress, $0.count, &step) }
        if result == -ENODEV { return nil }
        if result < 0 { throw Failure(step: step.map { String(cString: $0) } ?? "read the link", errno: -result) }
        return String(cString: buffer)
    }

    private static func check(_ call: (UnsafeMutablePointer<UnsafePointer<CChar>?>) -> Int32) throws(Failure) {
        var step: UnsafePointer<CChar>?
        let result = call(&step)
        if result < 0 { throw Failure(step: step.map { String(cString: $0) } ?? "netlink request", errno: -result) }
    }
}
