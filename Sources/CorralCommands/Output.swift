import CorralAPI
import Foundation

/// Renders human-readable tables and machine-readable JSON.
enum Output {
    /// Prints rows under a header, columns left-aligned and separated by three spaces.
    static func table(_ header: [String], _ rows: [[String]]) {
        var widths = header.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        var text = ""
        for row in [header] + rows {
            var line = ""
            for (index, cell) in row.enumerated() {
                if index == row.count - 1 {
                    line += cell
                } else {
                    line += cell + String(repeating: " ", count: widths[index] - cell.count + 3)
                }
            }
            while line.hasSuffix(" ") { line.removeLast() }
            text += line + "\n"
        }
        Console.stdout(text)
    }

    /// Prints `value` as pretty JSON with sorted keys.
    static func json(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(value)
        data.append(0x0A)
        Console.stdout(data)
    }

    /// `3s`, `5m`, `2h`, `4d` for a span in milliseconds.
    static func span(milliseconds: Int) -> String {
        let seconds = milliseconds / 1000
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m" }
        if seconds < 86400 { return "\(seconds / 3600)h" }
        return "\(seconds / 86400)d"
    }

    /// `850µs`, `12.3ms`, `1.20s` for a duration in microseconds.
    static func micros(_ microseconds: Int) -> String {
        if microseconds < 1000 { return "\(microseconds)µs" }
        if microseconds < 1_000_000 { return String(format: "%.1fms", Double(microseconds) / 1000) }
        return String(format: "%.2fs", Double(microseconds) / 1_000_000)
    }

    /// `512 B`, `4.3 MB`, `120 MB`, `1.2 GB`: a size in decimal units.
    /// A pull or import step as `2/3 layers, 1.2 MB` (`2 layers` while the total is unknown).
    static func progress(_ step: ImageProgressDTO) -> String {
        let layers = step.layersTotal > 0 ? "\(step.layersDone)/\(step.layersTotal) layers" : "\(step.layersDone) layers"
        return "\(layers), \(size(bytes: step.bytesDone))"
    }

    static func size(bytes: Int) -> String {
        guard bytes >= 1000 else { return "\(max(0, bytes)) B" }
        var value = Double(bytes)
        var unit = "B"
        for next in ["kB", "MB", "GB", "TB", "PB"] where value >= 999.5 {
            value /= 1000
            unit = next
        }
        return String(format: value < 100 ? "%.1f" : "%.0f", value) + " " + unit
    }

    /// The first 12 hex digits of a `sha256:<hex>` digest; `-` when absent.
    static func shortDigest(_ digest: String?) -> String {
        guard let digest, !digest.isEmpty else { return "-" }
        let hex = digest.split(separator: ":", maxSplits: 1).last.map(String.init) ?? digest
        return String(hex.prefix(12))
    }

    /// `5m ago` for a wire timestamp; `-` when absent or unreadable.
    static func ago(_ timestamp: String?, now: Date = Date()) -> String {
        guard let timestamp, let date = WireDate.parse(timestamp) else { return "-" }
        let milliseconds = max(0, Int(now.timeIntervalSince(date) * 1000))
        return span(milliseconds: milliseconds) + " ago"
    }

    /// `text` cut to `limit` characters, ending in `…` when cut.
    static func truncate(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
    }

    /// The command an instance runs: its image and arguments, quoted where needed.
    static func command(of instance: InstanceDTO) -> String {
        let words = ([instance.image].compactMap { $0 }.filter { !$0.isEmpty }) + (instance.args ?? [])
        return words.map(quote).joined(separator: " ")
    }

    static func quote(_ word: String) -> String {
        if word.isEmpty { return "''" }
        let plain = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,@%+".contains($0) }
        return plain ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// What `ps` shows about where an instance is in its life.
    static func status(of instance: InstanceDTO, now: Date = Date()) -> String {
        switch instance.state {
        case .running:
            let up = instance.uptimeMs.map { "Up " + span(milliseconds: $0) } ?? "Up"
            return up
        case .stopped:
            if let attempt = instance.restart?.attempt, attempt > 0, instance.restart?.nextAt != nil {
                return "Restarting (\(attempt))"
            }
            guard instance.stoppedAt != nil || (instance.startCount ?? 0) > 0 else { return "Created" }
            let code = instance.exitCode.map { "Exited (\($0))" } ?? "Exited"
            return instance.stoppedAt == nil ? code : code + " " + ago(instance.stoppedAt, now: now)
        case .some(let state):
            return state.rawValue.prefix(1).uppercased() + state.rawValue.dropFirst()
        case nil:
            return "-"
        }
    }
}
