/// Where `corrald` listens: a unix socket or an HTTP(S) base URL.
public enum CorralEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// A unix domain socket at this path.
    case unixSocket(path: String)
    /// An HTTP or HTTPS origin such as `http://10.0.0.5:7070`, without a trailing slash.
    case url(String)

    /// Parses the forms `corral --host` accepts: `unix:///path/to.sock`,
    /// `http://host:port`, `https://host:port`, `tcp://host:port` (plain HTTP),
    /// or a bare socket path.
    ///
    /// - Throws: `CorralClientError` of kind `.invalidEndpoint` for an empty
    ///   string, an unknown scheme, or a URL without a host.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else {
            throw CorralClientError(kind: .invalidEndpoint, message: "invalid host '': empty")
        }
        guard let schemeEnd = trimmed.range(of: "://") else {
            self = .unixSocket(path: trimmed)
            return
        }
        let scheme = trimmed[..<schemeEnd.lowerBound].lowercased()
        let rest = String(trimmed[schemeEnd.upperBound...])
        switch scheme {
        case "unix", "http+unix":
            guard !rest.isEmpty else {
                throw CorralClientError(kind: .invalidEndpoint, message: "invalid host '\(text)': no socket path")
            }
            self = .unixSocket(path: rest.hasPrefix("/") ? rest : "/" + rest)
        case "http", "https", "tcp":
            var authority = rest
            while authority.hasSuffix("/") { authority.removeLast() }
            guard !authority.isEmpty, !authority.contains("/") else {
                throw CorralClientError(
                    kind: .invalidEndpoint, message: "invalid host '\(text)': expected \(scheme)://host[:port]")
            }
            self = .url((scheme == "https" ? "https" : "http") + "://" + authority)
        default:
            throw CorralClientError(
                kind: .invalidEndpoint,
                message: "invalid host '\(text)': unknown scheme '\(scheme)' (use unix://, http:// or https://)")
        }
    }

    public var description: String {
        switch self {
        case .unixSocket(let path): return "unix://" + path
        case .url(let url): return url
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
