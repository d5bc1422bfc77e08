import Glibc

/// Lines for the machine's console (the agent's stderr, which is /dev/console in
/// `init` mode and reaches the host's instance log).
enum Console {
    static func print(_ message: String) {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
