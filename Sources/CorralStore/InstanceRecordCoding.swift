import CorralCore
import Foundation

/// The stored form of an `InstanceRecord`: JSON with sorted keys, dates as seconds
/// since 1970 (a JSON number, `Double`).
///
/// Chosen once; changing it needs a migration. Dates read back to within a
/// microsecond (the round trip through 1970-based seconds can move the last bit).
enum InstanceRecordCoding {
    static func encode(_ record: InstanceRecord) throws(CorralError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .secondsSince1970
        do {
            let data = try encoder.encode(record)
            return String(decoding: data, as: UTF8.self)
        } catch {
            throw CorralError(
                .internal,
                "failed to encode instance '\(record.name)': \(describe(error))",
                cause: error
            )
        }
    }

    static func decode(_ data: Data) throws -> InstanceRecord {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode(InstanceRecord.self, from: data)
    }

    /// A one-line account of a coding error that names the offending path.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else {
            if let error = error as? EncodingError, case .invalidValue(_, let context) = error {
                return "\(context.debugDescription) at \(path(context.codingPath))"
            }
            return String(describing: error)
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' at \(path(context.codingPath))"
        case .typeMismatch(let type, let context):
            return "expected \(type) at \(path(context.codingPath)): \(context.debugDescription)"
        case .valueNotFound(let type, let context):
            return "missing \(type) value at \(path(context.codingPath))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                return "not valid JSON: \(context.debugDescription)"
            }
            return "invalid value at \(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return String(describing: error)
        }
    }

    private static func path(_ codingPath: [any CodingKey]) -> String {
        guard !codingPath.isEmpty else { return "the top level" }
        return codingPath.map { key in
            key.intValue.map { "[\($0)]" } ?? key.stringValue
        }.joined(separator: ".")
    }
}
