/// Why a tar archive (an image layer or a rootfs tarball) was not accepted.
struct ArchiveProblem: Error, Sendable, CustomStringConvertible {
    enum Kind: Sendable {
        /// The archive is well formed but asks for something the store refuses.
        case refused
        /// The archive is not a valid tar stream.
        case malformed
        /// Reading it failed (I/O, a decompressor that failed).
        case unreadable
    }

    var kind: Kind
    /// The entry's path as it appears in the archive, when one entry is at fault.
    var entry: String?
    var reason: String

    static func refused(_ entry: String, _ reason: String) -> ArchiveProblem {
        ArchiveProblem(kind: .refused, entry: entry, reason: reason)
    }

    static func malformed(_ reason: String, entry: String? = nil) -> ArchiveProblem {
        ArchiveProblem(kind: .malformed, entry: entry, reason: reason)
    }

    static func unreadable(_ reason: String) -> ArchiveProblem {
        ArchiveProblem(kind: .unreadable, entry: nil, reason: reason)
    }

    var description: String {
        if let entry { return "entry '\(entry)': \(reason)" }
        return reason
    }
}
