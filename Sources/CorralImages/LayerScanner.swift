/// Checks the layers of one image, lowest first, before anything is unpacked, and
/// refuses any entry that could write outside the root filesystem or create a
/// device.
///
/// Refused: a path that is absolute (after leading `./` are removed) or has a `..`
/// component; character and block devices and FIFOs; sparse files and unknown
/// entry types; any entry (file, directory, link, whiteout) whose parent path
/// passes through a symlink created by this or a lower layer when that symlink is
/// absolute or climbs above the root; a hardlink whose target is absolute, has a
/// `..` component or passes through such a symlink. Relative symlinks that stay
/// inside the root may be traversed: they are resolved the way the unpacker
/// resolves them, so later checks see the real location.
///
/// Symlinks are tracked by their resolved location across layers; whiteouts
/// (`.wh.<name>`, `.wh..wh..opq`) and entries that replace them are followed.
struct LayerScanner {
    private struct Link {
        var target: [UInt8]
        var layer: Int
    }

    /// Resolved path (components joined by `/`) → the symlink stored there.
    private var links: [[UInt8]: Link] = [:]

    private static let slash = UInt8(ascii: "/")
    private static let dot: [UInt8] = [UInt8(ascii: ".")]
    private static let dotDot: [UInt8] = [UInt8(ascii: "."), UInt8(ascii: ".")]
    private static let whiteoutPrefix = Array(".wh.".utf8)
    private static let opaqueMarker = Array(".wh..wh..opq".utf8)

    /// Reads every entry of `reader` as layer number `layer` (0 is the lowest).
    mutating func scan(_ reader: TarReader, layer: Int) throws(ArchiveProblem) {
        while let entry = try reader.next() {
            try check(entry, layer: layer)
        }
    }

    mutating func check(_ entry: TarEntry, layer: Int) throws(ArchiveProblem) {
        let name = entry.displayPath
        switch entry.kind {
        case .globalHeader:
            return
        case .characterDevice:
            throw .refused(name, "is a character device node; device nodes are not allowed in images")
        case .blockDevice:
            throw .refused(name, "is a block device node; device nodes are not allowed in images")
        case .fifo:
            throw .refused(name, "is a FIFO; device nodes and FIFOs are not allowed in images")
        case .other(let flag):
            throw .refused(name, "has unsupported tar entry type '\(Self.describe(flag))'")
        case .regular, .hardlink, .symlink, .directory:
            break
        }
        if entry.isSparse { throw .refused(name, "is a sparse file, which is not supported") }

        let components = try Self.components(of: entry.path, entry: name, what: "path")
        guard let last = components.last else {
            if entry.kind == .directory { return }
            throw .refused(name, "names the root directory but is not a directory")
        }
        let parent = try resolve(Array(components.dropLast()), entry: name)

        if last.starts(with: Self.whiteoutPrefix) {
            if last == Self.opaqueMarker {
                let prefix = Self.join(parent) + (parent.isEmpty ? [] : [Self.slash])
                links = links.filter { key, link in !(key.starts(with: prefix) && link.layer < layer) }
            } else {
                let hidden = Array(last.dropFirst(Self.whiteoutPrefix.count))
                guard !hidden.isEmpty, hidden != Self.dot, hidden != Self.dotDot else {
                    throw .refused(name, "is a whiteout for an invalid name")
                }
                removeTree(Self.join(parent + [hidden]))
            }
            return
        }

        let location = Self.join(parent + [last])
        switch entry.kind {
        case .hardlink:
            let targetComponents = try Self.components(of: entry.linkTarget, entry: name, what: "hardlink target")
            guard let targetLast = targetComponents.last else {
                throw .refused(name, "is a hardlink to the root directory")
            }
            let targetParent = try resolve(
                Array(targetComponents.dropLast()), entry: name, linkTarget: entry.displayLinkTarget
            )
            let linked = links[Self.join(targetParent + [targetLast])]
            removeTree(location)
            // A hardlink to a symlink is that symlink under a second name.
            if let linked { links[location] = Link(target: linked.target, layer: layer) }
        case .symlink:
            removeTree(location)
            links[location] = Link(target: entry.linkTarget, layer: layer)
        case .directory:
            links[location] = nil
        default:
            removeTree(location)
        }
    }

    /// Splits `path` into components, dropping empty and `.` ones; refuses absolute
    /// paths and `..`.
    private static func components(of path: [UInt8], entry: String, what: String) throws(ArchiveProblem) -> [[UInt8]] {
        var rest = path[...]
        while rest.starts(with: [UInt8(ascii: "."), slash]) { rest = rest.dropFirst(2) }
        if rest.first == slash {
            let shown = String(decoding: path, as: UTF8.self)
            throw .refused(entry, "\(what) '\(shown)' is absolute; paths must stay inside the root filesystem")
        }
        var parts: [[UInt8]] = []
        for part in rest.split(separator: slash, omittingEmptySubsequences: true) {
            let component = Array(part)
            if component == dot { continue }
            if component == dotDot {
                let shown = String(decoding: path, as: UTF8.self)
                throw .refused(entry, "\(what) '\(shown)' has a '..' component and could leave the root filesystem")
            }
            parts.append(component)
        }
        return parts
    }

    /// The real location of a directory path, following the symlinks seen so far.
    private func resolve(_ components: [[UInt8]], entry: String, linkTarget: String? = nil) throws(ArchiveProblem) -> [[UInt8]] {
        var resolved: [[UInt8]] = []
        var pending = Array(components.reversed())
        var hops = 0
        let subject = linkTarget.map { "hardlink target '\($0)'" } ?? "path"
        while let component = pending.popLast() {
            if component.isEmpty || component == Self.dot { continue }
            if component == Self.dotDot {
                guard !resolved.isEmpty else {
                    throw .refused(entry, "\(subject) climbs above the root filesystem through a symlink")
                }
                resolved.removeLast()
                continue
            }
            let candidate = resolved + [component]
            let key = Self.join(candidate)
            guard let link = links[key] else {
                resolved = candidate
                continue
            }
            hops += 1
            let shownLink = String(decoding: key, as: UTF8.self)
            let shownTarget = String(decoding: link.target, as: UTF8.self)
            guard hops <= 40 else { throw .refused(entry, "\(subject) has too many levels of symlinks") }
            if link.target.first == Self.slash {
                throw .refused(
                    entry,
                    "\(subject) passes through symlink '\(shownLink)' -> '\(shownTarget)', an absolute link that would escape the root filesystem"
                )
            }
            var expanded: [[UInt8]] = []
            for part in link.target.split(separator: Self.slash, omittingEmptySubsequences: true) {
                expanded.append(Array(part))
            }
            if Self.climbsAboveRoot(parent: resolved, target: expanded) {
                throw .refused(
                    entry,
                    "\(subject) passes through symlink '\(shownLink)' -> '\(shownTarget)', which leads outside the root filesystem"
                )
            }
            pending.append(contentsOf: expanded.reversed())
        }
        return resolved
    }

    private static func climbsAboveRoot(parent: [[UInt8]], target: [[UInt8]]) -> Bool {
        var depth = parent.count
        for component in target {
            if component == dotDot {
                depth -= 1
                if depth < 0 { return true }
            } else if component != dot {
                depth += 1
            }
        }
        return false
    }

    private mutating func removeTree(_ location: [UInt8]) {
        links[location] = nil
        let prefix = location + [Self.slash]
        if links.keys.contains(where: { $0.starts(with: prefix) }) {
            links = links.filter { key, _ in !key.starts(with: prefix) }
        }
    }

    private static func join(_ components: [[UInt8]]) -> [UInt8] {
        Array(components.joined(separator: [slash]))
    }

    private static func describe(_ flag: UInt8) -> String {
        flag >= 0x20 && flag < 0x7f ? String(UnicodeScalar(flag)) : "\\x\(String(flag, radix: 16))"
    }
}
