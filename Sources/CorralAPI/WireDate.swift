import Foundation

/// Timestamps on the wire: RFC 3339 in UTC with a `Z` suffix
/// (`2025-01-31T12:00:00.123456Z`).
public enum WireDate {
    /// Formats `date` in UTC with millisecond precision and a `Z` suffix.
    public static func format(_ date: Date) -> String {
        date.formatted(
            Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(secondsFromGMT: 0) ?? .gmt))
    }

    /// Parses an RFC 3339 timestamp with or without fractional seconds, with
    /// `Z` or a numeric offset; `nil` when `text` is not one.
    public static func parse(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
            return date
        }
        return try? Date(text, strategy: Date.ISO8601FormatStyle())
    }
}
