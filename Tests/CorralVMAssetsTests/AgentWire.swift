import Foundation

/// The agent protocol spelled out byte by byte (frame header, tag-length-value
/// fields), independently of CorralAgentProtocol, so the boot test checks the
/// wire contract itself.
enum AgentWire {
    enum MessageType: UInt8 {
        case ready = 1, exec, execResult, readFile, fileData, writeFile, ok, metricsRequest, metrics, shutdown,
            workloadExited, error, configure
    }

    enum Tag {
        static let argv: UInt8 = 3, env: UInt8 = 4, exitCode: UInt8 = 8, signal: UInt8 = 9, stdout: UInt8 = 11
        static let path: UInt8 = 14, data: UInt8 = 15, mode: UInt8 = 16, memTotal: UInt8 = 17, grace: UInt8 = 23
        static let message: UInt8 = 24, workload: UInt8 = 25, uid: UInt8 = 26, gid: UInt8 = 27, group: UInt8 = 28
        static let hostname: UInt8 = 29
        static let rootDevice: UInt8 = 30, fileSystem: UInt8 = 31, network: UInt8 = 32, mac: UInt8 = 34
        static let address: UInt8 = 35, prefixLength: UInt8 = 36, gateway: UInt8 = 37, nameserver: UInt8 = 38
    }

    struct Network {
        var mac: String
        var address: String
        var prefixLength: Int64
        var gateway: String
        var nameserver: String
    }

    struct Message {
        var type: UInt8
        var requestID: UInt32
        var fields: [(tag: UInt8, value: [UInt8])]

        func first(_ tag: UInt8) -> [UInt8]? { fields.first { $0.tag == tag }?.value }
        func text(_ tag: UInt8) -> String? { first(tag).map { String(decoding: $0, as: UTF8.self) } }
        func integer(_ tag: UInt8) -> Int64? {
            guard let bytes = first(tag), bytes.count == 8 else { return nil }
            return Int64(bitPattern: bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        }
    }

    static func field(_ tag: UInt8, _ value: [UInt8]) -> [UInt8] {
        [tag] + bigEndian(UInt32(value.count)) + value
    }

    static func field(_ tag: UInt8, _ text: String) -> [UInt8] { field(tag, Array(text.utf8)) }

    static func field(_ tag: UInt8, integer: Int64) -> [UInt8] { field(tag, bigEndian(UInt64(bitPattern: integer))) }

    static func frame(_ type: MessageType, _ requestID: UInt32, _ payload: [UInt8]) -> [UInt8] {
        Array("CRAL".utf8) + [1, type.rawValue] + bigEndian(requestID) + bigEndian(UInt32(payload.count)) + payload
    }

    static func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        (0..<MemoryLayout<T>.size).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    static func configure(
        argv: [String], environment: [String], hostname: String, network: Network? = nil,
        identity: (uid: Int64, gid: Int64, groups: [Int64]) = (0, 0, [])
    ) -> [UInt8] {
        let workload = argv.flatMap { field(Tag.argv, $0) } + environment.flatMap { field(Tag.env, $0) }
        var payload = field(Tag.workload, workload) + field(Tag.uid, integer: identity.uid)
        payload += field(Tag.gid, integer: identity.gid) + identity.groups.flatMap { field(Tag.group, integer: $0) }
        payload += field(Tag.hostname, hostname) + field(Tag.rootDevice, "/dev/vda") + field(Tag.fileSystem, "ext4")
        if let network {
            var nested = field(Tag.mac, network.mac) + field(Tag.address, network.address)
            nested += field(Tag.prefixLength, integer: network.prefixLength) + field(Tag.gateway, network.gateway)
            nested += field(Tag.nameserver, network.nameserver)
            payload += field(Tag.network, nested)
        }
        return payload
    }
}

/// The host end of the agent channel: a unix socket client with bounded reads.
final class AgentWireClient {
    private var fd: Int32
    private var buffer: [UInt8] = []

    /// Connects to `path`, retrying until `seconds` have passed. Its waits and
    /// `receive`'s are sleeps, never a blocked thread: a test that blocks one of
    /// the cooperative pool's threads (two here) for a VM's boot stalls the others.
    init(path: String, seconds: Double) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw AssetTestError("socket failed") }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
            }
            let status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if status == 0 {
                self.fd = fd
                return
            }
            close(fd)
            guard Date() < deadline else { throw AssetTestError("could not connect to \(path)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    deinit { disconnect() }

    /// Closes the connection, as a daemon that goes away does.
    func disconnect() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + offset }, $0.count - offset) }
            guard count > 0 else { throw AssetTestError("write to the agent failed") }
            offset += count
        }
    }

    /// The next message, waiting at most `seconds`.
    func receive(seconds: Double) async throws -> AgentWire.Message {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if buffer.count >= 14 {
                let length = Int(buffer[10..<14].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                if buffer.count >= 14 + length {
                    guard Array(buffer[0..<4]) == Array("CRAL".utf8) else { throw AssetTestError("bad magic from the agent") }
                    let requestID = buffer[6..<10].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                    var fields: [(tag: UInt8, value: [UInt8])] = []
                    var offset = 14
                    while offset + 5 <= 14 + length {
                        let size = Int(buffer[(offset + 1)..<(offset + 5)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
                        fields.append((buffer[offset], Array(buffer[(offset + 5)..<(offset + 5 + size)])))
                        offset += 5 + size
                    }
                    let message = AgentWire.Message(type: buffer[5], requestID: requestID, fields: fields)
                    buffer.removeFirst(14 + length)
                    return message
                }
            }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { throw AssetTestError("timed out waiting for the agent") }
            var pending = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&pending, 1, 0) <= 0 {
                try await Task.sleep(for: .milliseconds(5))
                continue
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { throw AssetTestError("the agent closed the channel") }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }
}
