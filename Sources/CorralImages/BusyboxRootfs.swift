import Foundation

/// The root filesystem of the busybox base image, as one tar layer.
///
/// Deterministic: entries sorted by path, owner root, mtime 0, fixed modes; the
/// same busybox binary and applet list always give the same bytes.
enum BusyboxRootfs {
    static let path = "/usr/sbin:/usr/bin:/sbin:/bin"

    static let passwd = """
        root:x:0:0:root:/root:/bin/sh
        nobody:x:65534:65534:nobody:/nonexistent:/bin/false

        """

    static let group = """
        root:x:0:
        nogroup:x:65534:

        """

    /// `applets` are the lines of `busybox --list-full` (`bin/sh`, `usr/bin/awk`…);
    /// lines without a directory, unsafe paths and `bin/busybox` itself are skipped.
    static func layer(binary: [UInt8], applets: [String]) -> [UInt8] {
        var entries: [String: TarWriter.Entry] = [:]
        func directory(_ path: String, mode: Int = 0o755) {
            if entries[path] == nil { entries[path] = .init(path, .directory, mode: mode) }
        }
        for name in ["bin", "dev", "etc", "proc", "sbin", "sys", "usr", "usr/bin", "usr/sbin", "var"] {
            directory(name)
        }
        directory("root", mode: 0o700)
        directory("tmp", mode: 0o1777)
        entries["bin/busybox"] = .init("bin/busybox", .file(binary), mode: 0o755)
        entries["etc/passwd"] = .init("etc/passwd", .file(Array(passwd.utf8)), mode: 0o644)
        entries["etc/group"] = .init("etc/group", .file(Array(group.utf8)), mode: 0o644)

        for line in applets {
            let applet = line.trimmingCharacters(in: .whitespaces)
            let components = applet.split(separator: "/").map(String.init)
            guard components.count >= 2, !applet.hasPrefix("/"), applet != "bin/busybox",
                !components.contains(".."), !components.contains(".")
            else { continue }
            var parent = ""
            for component in components.dropLast() {
                parent = parent.isEmpty ? component : "\(parent)/\(component)"
                directory(parent)
            }
            let target = components == ["bin", components[1]]
                ? "busybox" : String(repeating: "../", count: components.count - 1) + "bin/busybox"
            if entries[applet] == nil { entries[applet] = .init(applet, .symlink(target)) }
        }

        var writer = TarWriter()
        for path in entries.keys.sorted() {
            if let entry = entries[path] { writer.append(entry) }
        }
        return writer.finished()
    }

    /// Whether an ELF executable asks for a dynamic loader (has `PT_INTERP`). Only
    /// little-endian ELF is inspected; anything else is assumed static.
    static func isDynamicallyLinked(_ binary: [UInt8]) -> Bool {
        guard binary.count > 64, binary.starts(with: [0x7f, 0x45, 0x4c, 0x46]), binary[5] == 1 else { return false }
        func integer(_ offset: Int, _ width: Int) -> Int? {
            guard offset >= 0, offset + width <= binary.count else { return nil }
            var value = 0
            for index in (0..<width).reversed() { value = value << 8 | Int(binary[offset + index]) }
            return value
        }
        let is64 = binary[4] == 2
        guard let tableOffset = is64 ? integer(0x20, 8) : integer(0x1c, 4),
            let entrySize = integer(is64 ? 0x36 : 0x2a, 2),
            let count = integer(is64 ? 0x38 : 0x2c, 2)
        else { return false }
        for index in 0..<count {
            if integer(tableOffset + index * entrySize, 4) == 3 { return true }
        }
        return false
    }
}
