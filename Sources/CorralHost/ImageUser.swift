import CorralCore
import Foundation

/// The identity a container's process runs as, resolved from the image's `User`
/// (`name`, `uid`, `name:group`, `uid:gid`, or empty for root) against the image's
/// own `/etc/passwd` and `/etc/group`, as Docker does. Shared by the drivers that
/// run images (a container's process, a microVM's workload).
public struct ImageUser: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    /// Groups that list the user as a member, besides its primary group.
    public var additionalGids: [UInt32]
    /// The passwd entry's home directory; `/` when there is none.
    public var home: String

    public init(uid: UInt32, gid: UInt32, additionalGids: [UInt32], home: String) {
        self.uid = uid
        self.gid = gid
        self.additionalGids = additionalGids
        self.home = home
    }

    public static let root = ImageUser(uid: 0, gid: 0, additionalGids: [], home: "/root")

    /// Resolves `user` inside `rootfs`; reading the files cannot leave it.
    ///
    /// A numeric uid need not exist in `/etc/passwd` (its gid is then 0, or the
    /// entry's when there is one); a name must. A numeric gid need not exist in
    /// `/etc/group`; a group name must.
    public static func resolve(_ user: String?, rootfs: String) throws(CorralError) -> ImageUser {
        let root: ConfinedDirectory
        do {
            root = try ConfinedDirectory(path: rootfs)
        } catch {
            throw CorralError(.internal, "failed to start instance: cannot open the image root \(rootfs)", cause: error)
        }
        let passwd = Self.entries(root, "/etc/passwd")
        let groups = Self.entries(root, "/etc/group")
        return try resolve(user, passwd: passwd, groups: groups)
    }

    /// Resolution over already-split `passwd` and `group` lines.
    public static func resolve(_ user: String?, passwd: [[String]], groups: [[String]]) throws(CorralError) -> ImageUser {
        let spec = (user ?? "").trimmingCharacters(in: .whitespaces)
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let userPart = parts.first ?? ""
        let groupPart = parts.count > 1 ? parts[1] : nil

        var uid: UInt32 = 0
        var gid: UInt32 = 0
        var name: String?
        var home = "/"
        let byName = passwd.first { $0.count >= 6 && $0[0] == userPart }
        if userPart.isEmpty {
            if let rootEntry = passwd.first(where: { $0.count >= 6 && $0[2] == "0" }) {
                name = rootEntry[0]
                home = rootEntry[5]
            } else {
                home = "/root"
            }
        } else if let number = UInt32(userPart) {
            uid = number
            if let entry = passwd.first(where: { $0.count >= 6 && $0[2] == userPart }) {
                gid = UInt32(entry[3]) ?? 0
                name = entry[0]
                home = entry[5]
            }
        } else if let entry = byName, let entryUID = UInt32(entry[2]) {
            uid = entryUID
            gid = UInt32(entry[3]) ?? 0
            name = entry[0]
            home = entry[5]
        } else {
            throw .invalidArgument("failed to start instance: the image's user '\(userPart)' is not in its /etc/passwd")
        }

        if let groupPart, !groupPart.isEmpty {
            if let number = UInt32(groupPart) {
                gid = number
            } else if let entry = groups.first(where: { $0.count >= 3 && $0[0] == groupPart }), let number = UInt32(entry[2]) {
                gid = number
            } else {
                throw .invalidArgument("failed to start instance: the image's group '\(groupPart)' is not in its /etc/group")
            }
        }

        var additional: [UInt32] = []
        if let name, groupPart == nil || groupPart == "" {
            for entry in groups where entry.count >= 4 {
                let members = entry[3].split(separator: ",").map(String.init)
                if members.contains(name), let number = UInt32(entry[2]), number != gid, !additional.contains(number) {
                    additional.append(number)
                }
            }
        }
        return ImageUser(uid: uid, gid: gid, additionalGids: additional, home: home.isEmpty ? "/" : home)
    }

    /// The colon-separated fields of each line of a small file in the image; empty
    /// when it is missing or unreadable.
    private static func entries(_ root: ConfinedDirectory, _ path: String) -> [[String]] {
        guard let bytes = try? root.read(path, limit: 4 << 20) else { return [] }
        return String(decoding: bytes, as: UTF8.self)
            .split(separator: "\n")
            .filter { !$0.hasPrefix("#") }
            .map { $0.split(separator: ":", omittingEmptySubsequences: false).map(String.init) }
    }
}
