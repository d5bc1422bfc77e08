import CorralAPI
import CorralCore
import Foundation
import HTTPTypes
import Hummingbird

/// Builds `/v1` responses: the Unikraft Cloud envelope, encoded once, with
/// `op_time_us` measured from the start of the request.
struct APIResponse {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let data: Data
        do {
            data = try encoder.encode(value)
        } catch {
            data = Data(#"{"status":"error","message":"failed to encode response"}"#.utf8)
            return Response(
                status: .internalServerError,
                headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: data))
            )
        }
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    /// A whole-request success.
    static func success<Payload: Codable & Sendable>(_ data: Payload, started: ContinuousClock.Instant) -> Response {
        json(Envelope(status: .success, data: data, opTimeUs: elapsedMicroseconds(since: started)))
    }

    /// A whole-request failure.
    static func failure(_ error: CorralError, started: ContinuousClock.Instant) -> Response {
        let status = ErrorMapping.status(for: error.code)
        let envelope = Envelope<EmptyData>(
            status: .error,
            message: error.description,
            errors: [ResponseError(status: Int(status.code), message: error.description, error: ErrorMapping.itemCode(for: error.code))],
            opTimeUs: elapsedMicroseconds(since: started)
        )
        return json(envelope, status: status)
    }

    /// A batch answer: one item per request item, failed items carrying their own
    /// status. The envelope says `success`, `partial_success` or `error`; an all-failed
    /// batch answers with the first failure's HTTP status.
    static func batch<Item: BatchItemResult>(
        _ items: [Item],
        failures: [CorralError],
        started: ContinuousClock.Instant
    ) -> Response {
        let failedCount = items.filter(\.failed).count
        let status: ResponseStatus = failedCount == 0 ? .success : (failedCount == items.count ? .error : .partialSuccess)
        let errors = failures.map { error in
            ResponseError(
                status: Int(ErrorMapping.status(for: error.code).code),
                message: error.description,
                error: ErrorMapping.itemCode(for: error.code)
            )
        }
        let httpStatus: HTTPResponse.Status = status == .error ? (failures.first.map { ErrorMapping.status(for: $0.code) } ?? .internalServerError) : .ok
        let message: String? = switch status {
        case .success: nil
        case .partialSuccess: "\(failedCount) of \(items.count) items failed"
        case .error: failures.first?.description
        }
        let envelope = Envelope(
            status: status,
            message: message,
            data: InstancesData(instances: items),
            errors: errors.isEmpty ? nil : errors,
            opTimeUs: elapsedMicroseconds(since: started)
        )
        return json(envelope, status: httpStatus)
    }

    static func elapsedMicroseconds(since started: ContinuousClock.Instant) -> Int {
        let elapsed = ContinuousClock.now - started
        return Int(elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000)
    }
}

/// The `data` of a response that carries none.
struct EmptyData: Codable, Sendable {}
