/// Writes a tar archive in memory, deterministically: the same entries in the same
/// order always give the same bytes (no clock, no user database).
///
/// USTAR headers; a PAX `x` header carries any path or link target longer than 100
/// bytes. The caller decides the order of entries.
struct TarWriter {
    enum Content {
        case file([UInt8])
        case directory
        case symlink(String)
        case hardlink(String)
        case characterDevice(major: Int, minor: Int)
        case blockDevice(major: Int, minor: Int)
        case fifo
    }

    struct Entry {
        var path: String
        var content: Content
        var mode: Int
        var uid: Int
        var gid: Int
        var modificationTime: Int

        init(_ path: String, _ content: Content, mode: Int? = nil, uid: Int = 0, gid: Int = 0, modificationTime: Int = 0) {
            self.path = path
            self.content = content
            switch content {
            case .directory: self.mode = mode ?? 0o755
            case .symlink, .hardlink: self.mode = mode ?? 0o777
            default: self.mode = mode ?? 0o644
            }
            self.uid = uid
            self.gid = gid
            self.modificationTime = modificationTime
        }
    }

    private(set) var bytes: [UInt8] = []

    mutating func append(_ entry: Entry) {
        var flag: UInt8
        var link = ""
        var data: [UInt8] = []
        var device = (major: 0, minor: 0)
        switch entry.content {
        case .file(let contents):
            flag = UInt8(ascii: "0")
            data = contents
        case .directory:
            flag = UInt8(ascii: "5")
        case .symlink(let target):
            flag = UInt8(ascii: "2")
            link = target
        case .hardlink(let target):
            flag = UInt8(ascii: "1")
            link = target
        case .characterDevice(let major, let minor):
            flag = UInt8(ascii: "3")
            device = (major, minor)
        case .blockDevice(let major, let minor):
            flag = UInt8(ascii: "4")
            device = (major, minor)
        case .fifo:
            flag = UInt8(ascii: "6")
        }
        let path = Array(entry.path.utf8)
        let linkBytes = Array(link.utf8)
        if path.count > 100 || linkBytes.count > 100 {
            var records: [UInt8] = []
            if path.count > 100 { records += Self.paxRecord("path", path) }
            if linkBytes.count > 100 { records += Self.paxRecord("linkpath", linkBytes) }
            bytes += Self.header(
                path: Array("PaxHeader".utf8), flag: UInt8(ascii: "x"), link: [], size: records.count, mode: 0o644,
                uid: 0, gid: 0, modificationTime: entry.modificationTime, device: (0, 0)
            )
            appendData(records)
        }
        bytes += Self.header(
            path: Array(path.prefix(100)), flag: flag, link: Array(linkBytes.prefix(100)), size: data.count,
            mode: entry.mode, uid: entry.uid, gid: entry.gid, modificationTime: entry.modificationTime, device: device
        )
        appendData(data)
    }

    /// The archive with its two end-of-archive blocks.
    func finished() -> [UInt8] {
        bytes + [UInt8](repeating: 0, count: 1024)
    }

    private mutating func appendData(_ data: [UInt8]) {
        bytes += data
        let pad = (512 - data.count % 512) % 512
        bytes += [UInt8](repeating: 0, count: pad)
    }

    private static func paxRecord(_ key: String, _ value: [UInt8]) -> [UInt8] {
        let body = Array(" \(key)=".utf8) + value + [0x0a]
        var length = body.count + 1
        while String(length).utf8.count + body.count != length { length += 1 }
        return Array(String(length).utf8) + body
    }

    private static func header(
        path: [UInt8], flag: UInt8, link: [UInt8], size: Int, mode: Int, uid: Int, gid: Int, modificationTime: Int,
        device: (major: Int, minor: Int)
    ) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ field: [UInt8], at offset: Int) {
            for (index, byte) in field.enumerated() { block[offset + index] = byte }
        }
        func octal(_ value: Int, width: Int) -> [UInt8] {
            let digits = Array(String(value, radix: 8).utf8)
            return [UInt8](repeating: UInt8(ascii: "0"), count: max(0, width - 1 - digits.count)) + digits + [0]
        }
        put(path, at: 0)
        put(octal(mode, width: 8), at: 100)
        put(octal(uid, width: 8), at: 108)
        put(octal(gid, width: 8), at: 116)
        put(octal(size, width: 12), at: 124)
        put(octal(modificationTime, width: 12), at: 136)
        put([UInt8](repeating: UInt8(ascii: " "), count: 8), at: 148)
        block[156] = flag
        put(link, at: 157)
        put(Array("ustar".utf8) + [0], at: 257)
        put(Array("00".utf8), at: 263)
        put(octal(device.major, width: 8), at: 329)
        put(octal(device.minor, width: 8), at: 337)
        let checksum = block.reduce(0) { $0 + Int($1) }
        put(octal(checksum, width: 7) + [UInt8(ascii: " ")], at: 148)
        return block
    }
}
