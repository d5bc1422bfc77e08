import Glibc

/// Directory listing for the agent.
enum GuestDirectory {
    /// The names in `path`, without `.` and `..`.
    static func entries(_ path: String) throws(AgentSystemError) -> [String] {
        guard let directory = opendir(path) else { throw AgentSystemError("list \(path)", call: "opendir", path: path) }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    /// Creates `path` and its missing parents (like `mkdir -p`).
    static func create(_ path: String, mode: mode_t = 0o755) throws(AgentSystemError) {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, mode) != 0, errno != EEXIST {
                throw AgentSystemError("create \(path)", call: "mkdir", path: prefix)
            }
        }
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
