import CorralCore

/// A kernel command line as an ordered map: the driver's defaults, then a user's
/// `KernelSpec.cmdline` merged over them key by key. An empty value is written as
/// the bare key (`quiet`).
public struct KernelCommandLine: Sendable, Equatable {
    /// Keys in the order they were first set.
    public private(set) var keys: [String] = []
    public private(set) var values: [String: String] = [:]

    public init() {}

    /// A command line holding `pairs` in order; later pairs replace earlier ones.
    public init(_ pairs: [(String, String)]) {
        for (key, value) in pairs { self[key] = value }
    }

    public subscript(key: String) -> String? {
        get { values[key] }
        set {
            if let newValue {
                if values[key] == nil { keys.append(key) }
                values[key] = newValue
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    /// `user` laid over this line: its keys replace or extend the defaults, in
    /// sorted order for the new ones so the same map always gives the same line.
    /// Throws `invalidArgument` naming the first key or value the kernel could not
    /// parse back (empty keys, whitespace, quotes, `=` in a key, control bytes).
    public func merging(_ user: [String: String]) throws(CorralError) -> KernelCommandLine {
        var merged = self
        for key in user.keys.sorted() {
            let value = user[key] ?? ""
            try Self.check(key: key, value: value)
            merged[key] = value
        }
        return merged
    }

    /// `other` laid over this line: its keys replace values in place or are
    /// appended in `other`'s order.
    public func laying(_ other: KernelCommandLine) -> KernelCommandLine {
        var merged = self
        for key in other.keys { merged[key] = other.values[key] }
        return merged
    }

    /// The line as the kernel reads it.
    public var rendered: String {
        keys.map { key in
            let value = values[key] ?? ""
            return value.isEmpty ? key : "\(key)=\(value)"
        }.joined(separator: " ")
    }

    static func check(key: String, value: String) throws(CorralError) {
        func bad(_ scalar: Unicode.Scalar) -> Bool {
            scalar.value <= 0x20 || scalar.value == 0x7f || scalar == "\"" || scalar == "'" || scalar == "\\"
        }
        guard !key.isEmpty else {
            throw .invalidArgument("invalid field 'kernel.cmdline': a key is empty")
        }
        guard !key.unicodeScalars.contains(where: { bad($0) || $0 == "=" }) else {
            throw .invalidArgument(
                "invalid field 'kernel.cmdline' key '\(key)': keys may not hold whitespace, quotes, backslashes, '=' or control characters"
            )
        }
        guard !value.unicodeScalars.contains(where: bad) else {
            throw .invalidArgument(
                "invalid field 'kernel.cmdline' value of '\(key)': values may not hold whitespace, quotes, backslashes or control characters"
            )
        }
    }
}
