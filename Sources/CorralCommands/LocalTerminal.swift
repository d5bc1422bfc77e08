import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// This process's controlling terminal on standard input: its size, and raw
/// mode for an interactive session, restored on every way out.
final class LocalTerminal: @unchecked Sendable {
    private let fd: Int32
    /// The settings found on entry; restored by `restore()`. Written once before
    /// any signal source exists, read under `lock` afterwards.
    private var saved: termios
    private var restored = false
    private let lock = NSLock()
    private var signalSources: [any DispatchSourceSignal] = []

    /// Whether standard input is a terminal.
    static var standardInputIsTerminal: Bool { isatty(STDIN_FILENO) == 1 }

    /// The size of the terminal on `fd`, nil when it is none or reports 0x0.
    static func size(of fd: Int32 = STDIN_FILENO) -> (columns: UInt16, rows: UInt16)? {
        var size = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return nil }
        return (size.ws_col, size.ws_row)
    }

    /// Puts the terminal on standard input in raw mode (no echo, no line
    /// editing, no signals from keys: every byte goes to the remote terminal)
    /// and arranges for it to be restored when SIGINT, SIGTERM, SIGHUP or SIGQUIT ends
    /// this process.
    ///
    /// - Throws: `CommandFailure` when standard input is not a terminal or its
    ///   settings cannot be changed.
    init() throws {
        fd = STDIN_FILENO
        var current = termios()
        guard tcgetattr(fd, &current) == 0 else {
            throw CommandFailure(.usage, "failed to set up the terminal: standard input is not a terminal")
        }
        saved = current
        var raw = current
        cfmakeraw(&raw)
        guard tcsetattr(fd, TCSANOW, &raw) == 0 else {
            throw CommandFailure(.failure, "failed to set up the terminal: \(String(cString: strerror(errno)))")
        }
        for number in [SIGINT, SIGTERM, SIGHUP, SIGQUIT] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self] in
                restore()
                exit(128 + number)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    /// Puts back the settings found on entry. Idempotent.
    func restore() {
        lock.lock()
        defer { lock.unlock() }
        guard !restored else { return }
        restored = true
        var settings = saved
        _ = tcsetattr(fd, TCSADRAIN, &settings)
    }

    deinit {
        restore()
    }
}
