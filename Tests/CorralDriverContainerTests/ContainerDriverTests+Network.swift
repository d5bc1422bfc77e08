import CorralCore
import CorralDriverContainer
import CorralHost
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A network provider that only creates and deletes named network namespaces
/// with `ip netns`, recording what it was asked.
final class NamespaceOnlyNetworking: ContainerNetworking {
    let prefix = "corral-ct-\(UUID().uuidString.prefix(8).lowercased())"
    let calls = Mutex<[String]>([])

    func name(_ uuid: UUID) -> String { "\(prefix)-\(uuid.uuidString.prefix(8).lowercased())" }

    func attach(_ uuid: UUID, name: String, ports: [PortMapping]) async throws(CorralError) -> NetworkAttachment {
        calls.withLock { $0.append("attach \(name)") }
        let namespace = self.name(uuid)
        if !FileManager.default.fileExists(atPath: "/run/netns/\(namespace)") {
            _ = try? Process.output("/usr/sbin/ip", ["netns", "add", namespace])
        }
        guard FileManager.default.fileExists(atPath: "/run/netns/\(namespace)") else {
            throw .unavailable("cannot create network namespace \(namespace)")
        }
        return NetworkAttachment(
            netnsPath: "/run/netns/\(namespace)", ip: "10.88.0.7", mac: "02:00:0a:58:00:07", gateway: "10.88.0.1",
            nameservers: ["10.88.0.1"]
        )
    }

    func publish(_ uuid: UUID, ports: [PortMapping], ip: String) async throws(CorralError) {
        calls.withLock { $0.append("publish \(ports.map { "\($0.hostPort):\($0.instancePort)" }.joined(separator: ",")) at \(ip)") }
    }

    func detach(_ uuid: UUID) async {
        calls.withLock { $0.append("detach") }
        // Detach is idempotent: a second call finds the namespace gone.
        guard FileManager.default.fileExists(atPath: "/run/netns/\(name(uuid))") else { return }
        _ = try? Process.output("/usr/sbin/ip", ["netns", "delete", name(uuid)])
    }
}

extension ContainerDriverTests {
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip"), "needs ip(8)"))
    func aNetworkProviderGivesTheNamespaceAndTheEtcFiles() async throws {
        let networking = NamespaceOnlyNetworking()
        try await withFixture(networking: networking) { fixture in
            #expect(fixture.driver.capabilities.contains(.network))
            let (uuid, started) = try await fixture.start(["sleep", "60"], name: "net-1")
            #expect(started.handle.attributes["ip"] == "10.88.0.7")
            var inside = stat()
            var prepared = stat()
            #expect(stat("/proc/\(started.handle.workloadPID)/ns/net", &inside) == 0)
            #expect(stat("/run/netns/\(networking.name(uuid))", &prepared) == 0)
            #expect(inside.st_ino == prepared.st_ino)
            let files = try await fixture.driver.exec(uuid, handle: started.handle, request: ExecRequest(
                command: ["cat", "/etc/resolv.conf", "/etc/hosts"]
            ))
            let text = String(decoding: files.stdout, as: UTF8.self)
            #expect(text.hasPrefix("nameserver 10.88.0.1\n"))
            #expect(text.contains("10.88.0.7\tnet-1\n"))

            try await fixture.driver.destroy(uuid)
            #expect(networking.calls.withLock { $0 } == ["attach net-1", "detach"])
            #expect(!FileManager.default.fileExists(atPath: "/run/netns/\(networking.name(uuid))"))
        }
    }
}
