extension ImageRuntimeConfig {
    /// What runs, as Docker does it: `Entrypoint`, then `args`, or the image's
    /// `Cmd` when `args` is empty. Empty when neither names a command.
    public func command(args: [String]) -> [String] {
        entrypoint + (args.isEmpty ? cmd : args)
    }

    /// `KEY=VALUE` entries: the image's in its order (with the value of `overrides`
    /// where it sets the same key), the other keys of `overrides` sorted, then the
    /// `defaults` the two left unset.
    public func environment(overrides: [String: String], defaults: [(String, String)]) -> [String] {
        var seen: Set<String> = []
        var out: [String] = []
        for entry in env {
            let key = String(entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            guard !key.isEmpty, seen.insert(key).inserted else { continue }
            if let value = overrides[key] {
                out.append("\(key)=\(value)")
            } else {
                out.append(entry.contains("=") ? entry : "\(entry)=")
            }
        }
        for key in overrides.keys.sorted() where seen.insert(key).inserted {
            out.append("\(key)=\(overrides[key] ?? "")")
        }
        for (key, value) in defaults where seen.insert(key).inserted {
            out.append("\(key)=\(value)")
        }
        return out
    }

    /// The image's working directory, `/` when it sets none.
    public var workingDirectory: String {
        workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/"
    }
}
