/// Reads the `oom_kill N` line of a v1 `memory.oom_control` or v2 `memory.events`.
public enum OOMCounter {
    public static func parse(_ bytes: [UInt8]) -> UInt64? {
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let words = line.split(separator: UInt8(ascii: " "))
            if words.count == 2, String(decoding: words[0], as: UTF8.self) == "oom_kill" {
                return UInt64(String(decoding: words[1], as: UTF8.self))
            }
        }
        return nil
    }
}
