import Foundation

/// A 48-bit Ethernet address. Encodes as lowercase colon-separated hex.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The six octets, first transmitted first.
    public let octets: [UInt8]

    /// Nil unless `octets` has exactly six elements.
    public init?(octets: [UInt8]) {
        guard octets.count == 6 else { return nil }
        self.octets = octets
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (either case). Nil otherwise.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var octets: [UInt8] = []
        for part in parts {
            guard part.count == 2, let octet = UInt8(part, radix: 16) else { return nil }
            octets.append(octet)
        }
        self.octets = octets
    }

    /// A locally administered unicast address derived from `instance` alone, so the
    /// same instance always gets the same address. `attempt` selects another address
    /// for the same instance, for the rare collision with one already in use.
    public static func derived(from instance: UUID, attempt: Int = 0) -> MACAddress {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var bytes = withUnsafeBytes(of: instance.uuid) { Array($0) }
        if attempt > 0 { bytes += withUnsafeBytes(of: UInt64(attempt).littleEndian) { Array($0) } }
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        var octets = (0..<6).map { UInt8(truncatingIfNeeded: hash >> (8 * UInt64($0))) }
        // Bit 1 of the first octet marks the address locally administered; bit 0 clear keeps it unicast.
        octets[0] = (octets[0] & 0b1111_1100) | 0b0000_0010
        return MACAddress(unchecked: octets)
    }

    private init(unchecked octets: [UInt8]) {
        self.octets = octets
    }

    public var isLocallyAdministered: Bool { octets[0] & 0b10 != 0 }
    public var isUnicast: Bool { octets[0] & 0b1 == 0 }

    public var description: String {
        octets.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0\(hex)" : hex
        }.joined(separator: ":")
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let address = MACAddress(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a MAC address: \(text)")
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
