import Foundation

/// Writes to standard output and standard error without buffering surprises.
enum Console {
    static func stdout(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func stdout(_ data: Data) {
        FileHandle.standardOutput.write(data)
    }

    static func stderr(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func stderr(_ data: Data) {
        FileHandle.standardError.write(data)
    }

    /// Prints `corral: <message>` to standard error.
    static func error(_ message: String) {
        stderr("corral: " + message + "\n")
    }
}
