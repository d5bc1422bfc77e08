import CCorralSpawn
import CorralAgentProtocol
import Glibc

/// The guest's network and name files, configured from a `GuestConfig` after the
/// switch to the root disk.
enum GuestNetworkSetup {
    /// How long the interface with the configured MAC may take to appear.
    static let interfaceWaitMilliseconds: Int64 = 5_000

    static func apply(_ config: GuestConfig) throws(AgentSystemError) {
        if corral_agent_interface_up("lo") != 0 {
            throw AgentSystemError("bring up the loopback interface", call: "ioctl SIOCSIFFLAGS", path: "lo")
        }
        if let network = config.network {
            let name = try interface(withMAC: network.mac)
            if corral_agent_interface_address(name, network.address, Int32(network.prefixLength)) != 0 {
                throw AgentSystemError(
                    "configure \(name)", call: "ioctl SIOCSIFADDR", path: "\(network.address)/\(network.prefixLength)")
            }
            if corral_agent_interface_up(name) != 0 {
                throw AgentSystemError("bring up \(name)", call: "ioctl SIOCSIFFLAGS", path: name)
            }
            if let gateway = network.gateway, corral_agent_add_default_route(gateway) != 0 {
                throw AgentSystemError("add the default route", call: "ioctl SIOCADDRT", path: gateway)
            }
        }
        if corral_agent_set_hostname(config.hostname) != 0 {
            throw AgentSystemError("set the hostname", call: "sethostname", path: config.hostname)
        }
        try writeNameFiles(config)
    }

    /// The name of the interface whose address is `mac` (case-insensitive).
    static func interface(withMAC mac: String, sysfs: String = "/sys/class/net") throws(AgentSystemError) -> String {
        let wanted = mac.lowercased()
        let deadline = monotonicMilliseconds() + interfaceWaitMilliseconds
        repeat {
            for name in (try? GuestDirectory.entries(sysfs)) ?? [] {
                guard let address = try? GuestFiles.read(path: "\(sysfs)/\(name)/address", limit: 256) else { continue }
                if String(decoding: address, as: UTF8.self).trimmingWhitespace().lowercased() == wanted { return name }
            }
            usleep(20_000)
        } while monotonicMilliseconds() < deadline
        throw AgentSystemError("find the interface with MAC \(mac)", call: "scan", path: sysfs, errno: ENODEV)
    }

    /// /etc/hostname, /etc/hosts and (with a network) /etc/resolv.conf, replaced
    /// atomically (a symlink in their place is replaced, not followed).
    static func writeNameFiles(_ config: GuestConfig, etc: String = "/etc") throws(AgentSystemError) {
        try GuestDirectory.create(etc)
        try GuestFiles.write(WriteFileRequest(path: etc + "/hostname", contents: Array((config.hostname + "\n").utf8)))
        var hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        hosts += "\(config.network?.address ?? "127.0.1.1")\t\(config.hostname)\n"
        try GuestFiles.write(WriteFileRequest(path: etc + "/hosts", contents: Array(hosts.utf8)))
        if let network = config.network {
            let resolv = network.nameservers.map { "nameserver \($0)\n" }.joined()
            try GuestFiles.write(WriteFileRequest(path: etc + "/resolv.conf", contents: Array(resolv.utf8)))
        }
    }
}
