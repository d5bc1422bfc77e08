/// One member of a tar archive, after extended headers (PAX, GNU long names) are applied.
struct TarEntry: Sendable {
    enum Kind: Sendable, Equatable {
        case regular
        case hardlink
        case symlink
        case characterDevice
        case blockDevice
        case directory
        case fifo
        /// A PAX global header (`g`): metadata, no file.
        case globalHeader
        /// Any other type flag.
        case other(UInt8)
    }

    /// The path as stored, byte for byte.
    var path: [UInt8]
    /// The link target of a hardlink or symlink, byte for byte.
    var linkTarget: [UInt8]
    var kind: Kind
    /// Bytes of content that follow the header.
    var size: Int64
    var mode: Int64
    /// Whether PAX records describe a sparse file (`GNU.sparse.*`), or the type is `S`.
    var isSparse: Bool

    /// The path for messages (invalid UTF-8 shown as U+FFFD).
    var displayPath: String { String(decoding: path, as: UTF8.self) }
    /// The link target for messages.
    var displayLinkTarget: String { String(decoding: linkTarget, as: UTF8.self) }
}
