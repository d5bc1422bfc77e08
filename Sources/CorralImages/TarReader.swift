#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads the members of a tar stream, one header at a time, without extracting.
///
/// It reads archives the way Go's `archive/tar` does (which umoci uses to unpack),
/// so that what this reader sees is what umoci will write: V7, USTAR (with the
/// name prefix), STAR, GNU (no prefix; `L`/`K` long names, applied after PAX
/// records) and PAX (`x` records apply to the next member only; the last `x` wins);
/// header-only types carry no data whatever their size field says; two zero blocks,
/// a zero block at end of stream, or end of stream at a header boundary end it.
final class TarReader {
    private let source: any ByteSource
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var remaining: Int64 = 0
    private var padding: Int64 = 0
    private var previousPath = ""

    init(source: any ByteSource, bufferSize: Int = 128 * 1024) {
        self.source = source
        self.buffer = [UInt8](repeating: 0, count: max(bufferSize, 1024))
    }

    /// The next member, skipping whatever of the current member's data was not
    /// read; nil at the end of the archive.
    func next() throws(ArchiveProblem) -> TarEntry? {
        try skip(remaining + padding)
        remaining = 0
        padding = 0

        var pax: [String: [UInt8]] = [:]
        var longName: [UInt8]?
        var longLink: [UInt8]?
        while true {
            guard let header = try readBlock() else {
                if !pax.isEmpty || longName != nil || longLink != nil {
                    throw .malformed("the archive ends after an extended header", entry: after())
                }
                return nil
            }
            if header.allSatisfy({ $0 == 0 }) {
                guard let second = try readBlock(), !second.allSatisfy({ $0 == 0 }) else { return nil }
                throw .malformed("a zero block is followed by data", entry: after())
            }
            let format = try Self.format(of: header, after: after())
            let flag = header[156]
            let headerSize = try Self.number(header[124..<136], field: "size", entry: after())
            guard headerSize >= 0 else { throw .malformed("negative size", entry: after()) }

            switch flag {
            case UInt8(ascii: "x"), UInt8(ascii: "g"):
                let data = try readData(headerSize, limit: 1 << 20, what: "PAX header", padded: true)
                let records = try Self.paxRecords(data, entry: after())
                if flag == UInt8(ascii: "g") {
                    return TarEntry(
                        path: Self.string(header[0..<100]), linkTarget: [], kind: .globalHeader, size: 0, mode: 0,
                        isSparse: false
                    )
                }
                pax = records
                continue
            case UInt8(ascii: "L"), UInt8(ascii: "K"):
                let data = try readData(headerSize, limit: 1 << 20, what: "GNU long name", padded: true)
                if flag == UInt8(ascii: "L") {
                    longName = Self.string(data[...])
                } else {
                    longLink = Self.string(data[...])
                }
                continue
            default:
                break
            }

            var path = Self.string(header[0..<100])
            if format == .ustar || format == .star {
                let prefix = Self.string(format == .star ? header[345..<476] : header[345..<500])
                if !prefix.isEmpty { path = prefix + [UInt8(ascii: "/")] + path }
            }
            var link = Self.string(header[157..<257])
            var size = headerSize
            var sparse = flag == UInt8(ascii: "S")
            if let value = pax["path"] { path = value }
            if let value = pax["linkpath"] { link = value }
            if let value = pax["size"] {
                guard let parsed = Int64(String(decoding: value, as: UTF8.self)), parsed >= 0 else {
                    throw .malformed("PAX size '\(String(decoding: value, as: UTF8.self))' is not a size", entry: after())
                }
                size = parsed
            }
            if pax.keys.contains(where: { $0.hasPrefix("GNU.sparse.") }) { sparse = true }
            if let longName { path = longName }
            if let longLink { link = longLink }

            let kind: TarEntry.Kind
            switch flag {
            case 0: kind = path.last == UInt8(ascii: "/") ? .directory : .regular
            case UInt8(ascii: "0"): kind = .regular
            case UInt8(ascii: "1"): kind = .hardlink
            case UInt8(ascii: "2"): kind = .symlink
            case UInt8(ascii: "3"): kind = .characterDevice
            case UInt8(ascii: "4"): kind = .blockDevice
            case UInt8(ascii: "5"): kind = .directory
            case UInt8(ascii: "6"): kind = .fifo
            default: kind = .other(flag)
            }
            let headerOnly = [TarEntry.Kind.hardlink, .symlink, .characterDevice, .blockDevice, .directory, .fifo]
                .contains(kind)
            let dataSize = headerOnly ? 0 : size
            remaining = dataSize
            padding = (512 - dataSize % 512) % 512
            let mode = (try? Self.number(header[100..<108], field: "mode", entry: nil)) ?? 0
            previousPath = String(decoding: path, as: UTF8.self)
            return TarEntry(path: path, linkTarget: link, kind: kind, size: dataSize, mode: mode, isSparse: sparse)
        }
    }

    /// The current member's data, up to `limit` bytes; throws if it is longer.
    func readContent(limit: Int) throws(ArchiveProblem) -> [UInt8] {
        guard remaining <= Int64(limit) else {
            throw .malformed("member is larger than \(limit) bytes", entry: previousPath)
        }
        let data = try readData(remaining, limit: limit, what: "member", padded: false)
        remaining = 0
        try skip(padding)
        padding = 0
        return data
    }

    /// Reads the rest of the stream (after the end-of-archive blocks), so that the
    /// whole stream passes through any hashing source.
    func drain() throws(ArchiveProblem) {
        start = 0
        end = 0
        while try source.read(into: &buffer, from: 0) > 0 {}
    }

    private func after() -> String? {
        previousPath.isEmpty ? nil : "(after '\(previousPath)')"
    }

    private enum Format {
        case v7
        case ustar
        case star
        case gnu
    }

    private static func format(of header: [UInt8], after: String?) throws(ArchiveProblem) -> Format {
        let stored = try number(header[148..<156], field: "checksum", entry: after)
        var unsigned: Int64 = 0
        var signed: Int64 = 0
        for (index, byte) in header.enumerated() {
            let value = (148..<156).contains(index) ? UInt8(ascii: " ") : byte
            unsigned += Int64(value)
            signed += Int64(Int8(bitPattern: value))
        }
        guard stored == unsigned || stored == signed else {
            throw .malformed("header checksum mismatch (not a tar archive, or corrupt)", entry: after)
        }
        let magic = Array(header[257..<263])
        let version = Array(header[263..<265])
        let trailer = Array(header[508..<512])
        let ustarMagic: [UInt8] = Array("ustar".utf8) + [0]
        if magic == ustarMagic && trailer == Array("tar".utf8) + [0] { return .star }
        if magic == ustarMagic { return .ustar }
        if magic == Array("ustar ".utf8) && version == [UInt8(ascii: " "), 0] { return .gnu }
        return .v7
    }

    /// A NUL-terminated field.
    private static func string(_ field: ArraySlice<UInt8>) -> [UInt8] {
        Array(field.prefix { $0 != 0 })
    }

    /// An octal field (spaces and NULs trimmed), or GNU base-256 when the high bit is set.
    private static func number(_ field: ArraySlice<UInt8>, field name: String, entry: String?) throws(ArchiveProblem) -> Int64 {
        guard let first = field.first else { return 0 }
        if first & 0x80 != 0 {
            guard first & 0x40 == 0 else { throw .malformed("negative base-256 \(name)", entry: entry) }
            var value: Int64 = Int64(first & 0x3f)
            for byte in field.dropFirst() {
                guard value <= (Int64.max >> 8) else { throw .malformed("\(name) overflows", entry: entry) }
                value = (value << 8) | Int64(byte)
            }
            return value
        }
        let trimmed = field.drop { $0 == 0x20 || $0 == 0 }.reversed().drop { $0 == 0x20 || $0 == 0 }.reversed()
        var value: Int64 = 0
        for byte in trimmed {
            guard byte >= 0x30, byte <= 0x37, value <= (Int64.max >> 3) else {
                throw .malformed("\(name) field is not an octal number", entry: entry)
            }
            value = value * 8 + Int64(byte - 0x30)
        }
        return value
    }

    /// `"<length> <key>=<value>\n"` records.
    private static func paxRecords(_ data: [UInt8], entry: String?) throws(ArchiveProblem) -> [String: [UInt8]] {
        var records: [String: [UInt8]] = [:]
        var index = 0
        while index < data.count {
            if data[index] == 0 { break }
            guard let space = data[index...].firstIndex(of: 0x20),
                let length = Int(String(decoding: data[index..<space], as: UTF8.self)),
                length > space - index, index + length <= data.count, data[index + length - 1] == 0x0a
            else { throw .malformed("malformed PAX record", entry: entry) }
            let record = data[(space + 1)..<(index + length - 1)]
            guard let equals = record.firstIndex(of: UInt8(ascii: "=")), equals > record.startIndex else {
                throw .malformed("malformed PAX record", entry: entry)
            }
            let key = String(decoding: record[..<equals], as: UTF8.self)
            let value = Array(record[(equals + 1)...])
            if ["path", "linkpath", "uname", "gname"].contains(key), value.contains(0) {
                throw .malformed("PAX \(key) contains a NUL byte", entry: entry)
            }
            records[key] = value
            index += length
        }
        return records
    }

    /// The next 512-byte block; nil at a clean end of stream.
    private func readBlock() throws(ArchiveProblem) -> [UInt8]? {
        try fill(512)
        if end - start == 0 { return nil }
        guard end - start >= 512 else { throw .malformed("the archive ends inside a header", entry: after()) }
        let block = Array(buffer[start..<(start + 512)])
        start += 512
        return block
    }

    /// Reads `size` bytes of data, and with `padded` the padding to the next block.
    private func readData(_ size: Int64, limit: Int, what: String, padded: Bool) throws(ArchiveProblem) -> [UInt8] {
        guard size <= Int64(limit) else { throw .malformed("\(what) is larger than \(limit) bytes", entry: after()) }
        let count = Int(size)
        var data: [UInt8] = []
        data.reserveCapacity(count)
        while data.count < count {
            try fill(1)
            guard end > start else { throw .malformed("the archive ends inside a \(what)", entry: after()) }
            let take = min(end - start, count - data.count)
            data.append(contentsOf: buffer[start..<(start + take)])
            start += take
        }
        let pad = (512 - count % 512) % 512
        if padded, pad > 0 { try skip(Int64(pad)) }
        return data
    }

    private func skip(_ count: Int64) throws(ArchiveProblem) {
        var left = count
        let buffered = Int64(end - start)
        if left > buffered, try source.skip(left - buffered) {
            start = 0
            end = 0
            return
        }
        while left > 0 {
            if start == end {
                try fill(1)
                guard end > start else { throw .malformed("the archive ends inside a member", entry: after()) }
            }
            let take = Int(min(Int64(end - start), left))
            start += take
            left -= Int64(take)
        }
    }

    /// Makes at least `wanted` bytes available unless the stream ends first.
    private func fill(_ wanted: Int) throws(ArchiveProblem) {
        if end - start >= wanted { return }
        if start == end {
            start = 0
            end = 0
        } else if buffer.count - start < wanted || end == buffer.count {
            let live = end - start
            let from = start
            buffer.withUnsafeMutableBytes { raw in
                guard let base = raw.baseAddress else { return }
                memmove(base, base + from, live)
            }
            start = 0
            end = live
        }
        while end - start < wanted, end < buffer.count {
            let got = try source.read(into: &buffer, from: end)
            if got == 0 { return }
            end += got
        }
    }
}
