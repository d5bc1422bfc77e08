/// Finds the program a command names, as `execvp` would but before any process exists.
public enum ExecutableLookup {
    /// The search path used when an environment sets none.
    public static let defaultSearchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The absolute path of an executable regular file for `command`: `command`
    /// itself when it is an absolute path, else the first match in `searchPath`
    /// (relative entries are ignored). Nil when there is none.
    public static func resolve(_ command: String, searchPath: String = defaultSearchPath) -> String? {
        if command.hasPrefix("/") { return FileSystem.isExecutableFile(command) ? command : nil }
        guard !command.isEmpty, !command.contains("/") else { return nil }
        for directory in searchPath.split(separator: ":") where directory.hasPrefix("/") {
            let candidate = directory.hasSuffix("/") ? "\(directory)\(command)" : "\(directory)/\(command)"
            if FileSystem.isExecutableFile(candidate) { return candidate }
        }
        return nil
    }
}
