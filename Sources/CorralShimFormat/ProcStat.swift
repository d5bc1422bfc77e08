#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The fields of `/proc/PID/stat` that Corral uses.
public struct ProcStat: Equatable, Sendable {
    /// Field 3: `R`, `S`, `D`, `T`, `Z`, …
    public var state: Character
    public var parentPID: Int32
    public var processGroup: Int32
    public var session: Int32
    /// Fields 14 and 15, in clock ticks.
    public var userTicks: UInt64
    public var systemTicks: UInt64
    /// Field 22: clock ticks after boot. With the pid, identifies a process for good.
    public var startTime: UInt64
    /// Field 24, in pages.
    public var residentPages: Int64

    /// A zombie or dead process: it has exited, only its entry remains.
    public var hasExited: Bool { state == "Z" || state == "X" || state == "x" }

    /// Parses the content of a `/proc/PID/stat` file. The command name (field 2) may
    /// contain spaces and parentheses; fields are counted from its last `)`.
    public static func parse(_ bytes: [UInt8]) -> ProcStat? {
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let rest = bytes[(close + 1)...].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        guard rest.count >= 22 else { return nil }
        func number<T: FixedWidthInteger>(_ index: Int, _ type: T.Type) -> T? {
            T(String(decoding: rest[rest.startIndex + index], as: UTF8.self).trimmingNewline)
        }
        guard let stateByte = rest[rest.startIndex].first,
              let parent = number(1, Int32.self),
              let group = number(2, Int32.self),
              let session = number(3, Int32.self),
              let user = number(11, UInt64.self),
              let system = number(12, UInt64.self),
              let start = number(19, UInt64.self),
              let resident = number(21, Int64.self)
        else { return nil }
        return ProcStat(
            state: Character(Unicode.Scalar(stateByte)),
            parentPID: parent,
            processGroup: group,
            session: session,
            userTicks: user,
            systemTicks: system,
            startTime: start,
            residentPages: resident
        )
    }

    /// Reads `/proc/<pid>/stat`; nil when the process does not exist.
    public static func read(pid: Int32) -> ProcStat? {
        guard pid > 0, let bytes = try? RawFile.read("/proc/\(pid)/stat", limit: 4096) else { return nil }
        return parse(bytes)
    }

    /// Whether `pid` is a live (not zombie) process that started at `startTime`.
    public static func isAlive(pid: Int32, startTime: UInt64) -> Bool {
        guard let stat = read(pid: pid) else { return false }
        return stat.startTime == startTime && !stat.hasExited
    }
}

extension String {
    fileprivate var trimmingNewline: String {
        hasSuffix("\n") ? String(dropLast()) : self
    }
}
