/// Builds a cpio archive in the "newc" format the kernel unpacks into its initramfs.
///
/// Each entry is a 110-byte ASCII header (`070701` and thirteen 8-digit hex
/// fields), the NUL-terminated name padded to 4 bytes, then the data padded to
/// 4 bytes; the archive ends with the entry `TRAILER!!!`. Entries get inode
/// numbers in order, owner root, mtime 0, so equal input gives equal bytes.
struct CpioWriter: Sendable {
    enum Kind: Sendable, Equatable {
        case directory
        case file([UInt8])
        case symlink(String)
        case characterDevice(major: UInt32, minor: UInt32)
    }

    private(set) var bytes: [UInt8] = []
    private var nextInode: UInt32 = 1
    private var finished = false

    init() {}

    /// Appends one entry. `path` is relative (`dev/console`); `permissions` are the
    /// mode's low 12 bits.
    mutating func append(_ path: String, _ kind: Kind, permissions: UInt32) {
        precondition(!finished, "append after finish")
        let data: [UInt8]
        let type: UInt32
        var rdev: (UInt32, UInt32) = (0, 0)
        switch kind {
        case .directory:
            type = 0o040000
            data = []
        case .file(let contents):
            type = 0o100000
            data = contents
        case .symlink(let target):
            type = 0o120000
            data = Array(target.utf8)
        case .characterDevice(let major, let minor):
            type = 0o020000
            data = []
            rdev = (major, minor)
        }
        writeEntry(
            name: path, mode: type | (permissions & 0o7777), nlink: kind == .directory ? 2 : 1, data: data,
            rdev: rdev, inode: nextInode)
        nextInode += 1
    }

    /// Appends the trailer and returns the archive.
    mutating func finish() -> [UInt8] {
        if !finished {
            writeEntry(name: "TRAILER!!!", mode: 0, nlink: 1, data: [], rdev: (0, 0), inode: 0)
            finished = true
        }
        return bytes
    }

    private mutating func writeEntry(
        name: String, mode: UInt32, nlink: UInt32, data: [UInt8], rdev: (UInt32, UInt32), inode: UInt32
    ) {
        let nameBytes = Array(name.utf8) + [0]
        let fields: [UInt32] = [
            inode, mode, 0, 0, nlink, 0, UInt32(data.count), 0, 0, rdev.0, rdev.1, UInt32(nameBytes.count), 0,
        ]
        bytes.append(contentsOf: Array("070701".utf8))
        for field in fields { bytes.append(contentsOf: Self.hex8(field)) }
        bytes.append(contentsOf: nameBytes)
        pad()
        bytes.append(contentsOf: data)
        pad()
    }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    private static func hex8(_ value: UInt32) -> [UInt8] {
        let digits = Array("0123456789ABCDEF".utf8)
        return (0..<8).reversed().map { digits[Int((value >> (UInt32($0) * 4)) & 0xF)] }
    }
}
