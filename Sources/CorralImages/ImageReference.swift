import CorralCore

/// An image reference in its normalised form.
///
/// Normalisation: a missing tag becomes `latest`; with a digest the tag is dropped
/// (the digest names the content); Docker Hub's implicit parts are removed, so
/// `busybox`, `docker.io/library/busybox` and `busybox:latest` are all
/// `busybox:latest`; any other registry host and port is kept as written.
public struct ImageReference: Hashable, Sendable, CustomStringConvertible {
    /// `[host[:port]/]path`, without Docker Hub's `docker.io/` and `library/`.
    public let repository: String
    /// The tag; nil exactly when `digest` is set.
    public let tag: String?
    /// The manifest digest the reference pins, if any.
    public let digest: ImageDigest?

    /// Parses and normalises `text`. Throws `invalidArgument` naming what is wrong.
    public init(parsing text: String) throws(CorralError) {
        func invalid(_ reason: String) -> CorralError {
            .invalidArgument("failed to parse image reference '\(text)': \(reason)")
        }
        guard !text.isEmpty else { throw invalid("it is empty") }
        guard text.utf8.count <= 512 else { throw invalid("it is longer than 512 bytes") }

        var remainder = Substring(text)
        var digest: ImageDigest?
        if let at = remainder.firstIndex(of: "@") {
            let digestText = String(remainder[remainder.index(after: at)...])
            guard let parsed = ImageDigest(digestText) else {
                throw invalid("'\(digestText)' is not a digest (sha256: followed by 64 lowercase hex digits)")
            }
            digest = parsed
            remainder = remainder[..<at]
        }

        var tag: String?
        let lastSlash = remainder.lastIndex(of: "/")
        if let colon = remainder.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let tagText = String(remainder[remainder.index(after: colon)...])
            guard Self.isValidTag(tagText) else {
                throw invalid("'\(tagText)' is not a valid tag (letters, digits, '_', '.', '-'; at most 128)")
            }
            tag = tagText
            remainder = remainder[..<colon]
        }

        var components = remainder.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !components.isEmpty, components.allSatisfy({ !$0.isEmpty }) else {
            throw invalid("the repository name has an empty component")
        }
        var host: String?
        if components.count > 1, Self.looksLikeHost(components[0]) {
            guard Self.isValidHost(components[0]) else { throw invalid("'\(components[0])' is not a valid registry host") }
            host = components.removeFirst()
        }
        for component in components where !Self.isValidPathComponent(component) {
            throw invalid(
                "'\(component)' is not a valid repository component (lowercase letters and digits, separated by '.', '_', '__' or '-')"
            )
        }
        if host == "docker.io" || host == "index.docker.io" {
            host = nil
            if components.count == 2, components[0] == "library" { components.removeFirst() }
        }
        let repository = ([host].compactMap { $0 } + components).joined(separator: "/")
        guard repository.utf8.count <= 255 else { throw invalid("the repository name is longer than 255 bytes") }

        self.repository = repository
        self.digest = digest
        self.tag = digest == nil ? (tag ?? "latest") : nil
    }

    /// `repository:tag` or `repository@sha256:…`.
    public var description: String {
        if let digest { return "\(repository)@\(digest)" }
        return "\(repository):\(tag ?? "latest")"
    }

    /// The registry that serves the image: `host[:port]`, or `docker.io`.
    public var registry: String {
        guard let slash = repository.firstIndex(of: "/") else { return "docker.io" }
        let first = String(repository[..<slash])
        return Self.looksLikeHost(first) ? first : "docker.io"
    }

    private static func looksLikeHost(_ component: String) -> Bool {
        component.contains(".") || component.contains(":") || component == "localhost"
            || component.lowercased() != component
    }

    private static func isValidHost(_ text: String) -> Bool {
        var name = Substring(text)
        if name.hasPrefix("[") {
            guard let close = name.firstIndex(of: "]") else { return false }
            let inside = name[name.index(after: name.startIndex)..<close]
            guard !inside.isEmpty, inside.allSatisfy({ $0.isHexDigit || $0 == ":" }) else { return false }
            name = name[name.index(after: close)...]
            if name.isEmpty { return true }
            guard name.hasPrefix(":") else { return false }
            return isValidPort(name.dropFirst())
        }
        if let colon = name.lastIndex(of: ":") {
            guard isValidPort(name[name.index(after: colon)...]) else { return false }
            name = name[..<colon]
        }
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        return !labels.isEmpty && labels.allSatisfy { label in
            guard let first = label.first, let last = label.last, first != "-", last != "-" else { return false }
            return label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    private static func isValidPort(_ text: Substring) -> Bool {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(text) else {
            return false
        }
        return port > 0 && port < 65536
    }

    private static func isValidTag(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, bytes.count <= 128 else { return false }
        func word(_ byte: UInt8) -> Bool {
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte == 0x5f
        }
        return word(first) && bytes.allSatisfy { word($0) || $0 == 0x2e || $0 == 0x2d }
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
    private static func isValidPathComponent(_ text: String) -> Bool {
        func alphanumeric(_ byte: UInt8) -> Bool { (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x7a) }
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last, alphanumeric(first), alphanumeric(last) else { return false }
        var index = 0
        while index < bytes.count {
            if alphanumeric(bytes[index]) {
                index += 1
                continue
            }
            var end = index
            while end < bytes.count, !alphanumeric(bytes[end]) { end += 1 }
            let separator = bytes[index..<end]
            let valid = separator.elementsEqual([0x2e]) || separator.elementsEqual([0x5f])
                || separator.elementsEqual([0x5f, 0x5f]) || separator.allSatisfy { $0 == 0x2d }
            guard valid else { return false }
            index = end
        }
        return true
    }
}
