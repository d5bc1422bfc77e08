/// The text shape shared by the small records: a header line `<magic> <version>`,
/// then one `key value` pair per line. Keys are unique; unknown keys are ignored so
/// a newer writer stays readable by an older reader.
struct KeyValueText {
    private(set) var pairs: [(String, String)] = []

    init() {}

    mutating func append(_ key: String, _ value: String) {
        pairs.append((key, value))
    }

    mutating func append<Value: BinaryInteger>(_ key: String, _ value: Value) {
        pairs.append((key, String(value)))
    }

    func encode(magic: String, version: Int) -> [UInt8] {
        var text = "\(magic) \(version)\n"
        for (key, value) in pairs { text += "\(key) \(value)\n" }
        return Array(text.utf8)
    }

    /// Parses `bytes`, requiring the header `magic 1`.
    static func parse(_ bytes: [UInt8], magic: String, record: String) throws(ShimFormatError) -> [String: String] {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard !lines.isEmpty else { throw ShimFormatError(record: record, reason: "empty") }
        let header = lines.removeFirst()
        guard header == "\(magic) 1" else {
            throw ShimFormatError(record: record, reason: "unknown header '\(header)'")
        }
        var fields: [String: String] = [:]
        for line in lines {
            guard let space = line.firstIndex(of: " ") else {
                throw ShimFormatError(record: record, reason: "line without value '\(line)'")
            }
            let key = String(line[..<space])
            let value = String(line[line.index(after: space)...])
            guard fields[key] == nil else {
                throw ShimFormatError(record: record, reason: "duplicate key '\(key)'")
            }
            fields[key] = value
        }
        return fields
    }
}

extension Dictionary where Key == String, Value == String {
    func required<T: FixedWidthInteger>(_ key: String, as type: T.Type, record: String) throws(ShimFormatError) -> T {
        guard let text = self[key] else { throw ShimFormatError(record: record, reason: "missing '\(key)'") }
        guard let value = T(text) else {
            throw ShimFormatError(record: record, reason: "'\(key)' is not a number: '\(text)'")
        }
        return value
    }

    func optional<T: FixedWidthInteger>(_ key: String, as type: T.Type, record: String) throws(ShimFormatError) -> T? {
        guard let text = self[key] else { return nil }
        guard let value = T(text) else {
            throw ShimFormatError(record: record, reason: "'\(key)' is not a number: '\(text)'")
        }
        return value
    }
}
