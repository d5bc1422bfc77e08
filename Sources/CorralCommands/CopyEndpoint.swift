import ArgumentParser

/// One side of `corral cp`: a file inside an instance, a local file, or this
/// process's standard input or output.
enum CopyEndpoint: Equatable {
    /// `NAME:/path`: `path` is absolute inside the instance.
    case instance(name: String, path: String)
    case local(path: String)
    /// `-`: standard input as a source, standard output as a destination.
    case standardStream

    /// Parses a `cp` argument. `-` is the standard stream; `NAME:/path` is an
    /// instance's file when `NAME` is not empty and has no `/`; anything that
    /// starts with `/` or `.`, or has no `:`, is a local path (so `./a:b`
    /// names a local file called `a:b`).
    ///
    /// - Throws: `ValidationError` for `NAME:path` with a relative path.
    init(parsing text: String) throws {
        if text == "-" {
            self = .standardStream
            return
        }
        guard !text.hasPrefix("/"), !text.hasPrefix("."), let colon = text.firstIndex(of: ":") else {
            self = .local(path: text)
            return
        }
        let name = String(text[..<colon])
        let path = String(text[text.index(after: colon)...])
        guard !name.isEmpty, !name.contains("/") else {
            self = .local(path: text)
            return
        }
        guard path.hasPrefix("/") else {
            throw ValidationError(
                "invalid '\(text)': the path inside instance '\(name)' must be absolute (NAME:/path); write ./\(text) for a local file")
        }
        self = .instance(name: name, path: path)
    }

    var isInstance: Bool {
        if case .instance = self { return true }
        return false
    }
}
