import CorralCore

/// A content digest as the store accepts it: `sha256:` and exactly 64 lowercase
/// hexadecimal digits. Other algorithms, upper case and short forms are not digests here.
public struct ImageDigest: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The 64 lowercase hexadecimal digits.
    public let hex: String

    /// Parses `text`; nil unless it is exactly `sha256:<64 lowercase hex digits>`.
    public init?(_ text: String) {
        guard text.hasPrefix("sha256:") else { return nil }
        self.init(hex: String(text.dropFirst(7)))
    }

    /// Wraps 64 lowercase hexadecimal digits; nil for anything else.
    public init?(hex: String) {
        guard hex.utf8.count == 64, hex.utf8.allSatisfy(Self.isLowercaseHexDigit) else { return nil }
        self.hex = hex
    }

    private init(trustedHex: String) {
        self.hex = trustedHex
    }

    /// `sha256:<hex>`.
    public var description: String { "sha256:\(hex)" }

    public static func < (lhs: ImageDigest, rhs: ImageDigest) -> Bool { lhs.hex < rhs.hex }

    /// The digest of `bytes`.
    static func of(_ bytes: [UInt8]) -> ImageDigest {
        ImageDigest(trustedHex: SHA256.hex(SHA256.hash(bytes)))
    }

    /// The digest a finished hasher computed.
    static func finishing(_ hasher: inout SHA256) -> ImageDigest {
        ImageDigest(trustedHex: SHA256.hex(hasher.finalize()))
    }

    /// Parses `text` or throws `invalidArgument` as `failed to <action>: …`.
    static func parse(_ text: String, action: String) throws(CorralError) -> ImageDigest {
        guard let digest = ImageDigest(text) else {
            throw .invalidArgument(
                "failed to \(action): '\(text)' is not a digest (sha256: followed by 64 lowercase hex digits)"
            )
        }
        return digest
    }

    private static func isLowercaseHexDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66)
    }
}
