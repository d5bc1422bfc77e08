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

    /// Runs a handler and answers any error it throws with the error envelope.
    static func handle(_ body: () async throws -> Response) async -> Response {
        let started = ContinuousClock.now
        do {
            return try await body()
        } catch {
            return failure(ErrorMapping.corralError(error), started: started)
        }
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

    /// A per-item answer: one item per request item, failed items carrying their own
    /// status, message and error code; the envelope says `success`, `partial_success`
    /// or `error`. Batch forms always answer 200, because clients read per-item
    /// results only from a successful response; a by-path form (one item, `single`)
    /// answers its failure's HTTP status and lists it in `errors`.
    static func batch<Item: BatchItemResult>(
        _ items: [Item],
        failures: [CorralError],
        single: Bool = false,
        started: ContinuousClock.Instant
    ) -> Response {
        let failedCount = items.filter(\.failed).count
        let status: ResponseStatus = failedCount == 0 ? .success : (failedCount == items.count ? .error : .partialSuccess)
        // Clients read a batch's failures from its items (and their `error` codes);
        // the envelope's `errors` would make them judge the batch as a whole.
        var errors: [ResponseError] = []
        var httpStatus: HTTPResponse.Status = .ok
        if single, status == .error, let first = failures.first {
            httpStatus = ErrorMapping.status(for: first.code)
            errors = [ResponseError(status: Int(httpStatus.code), message: first.description, error: ErrorMapping.itemCode(for: first.code))]
        }
        let message: String? = switch status {
        case .success: nil
        case .partialSuccess: "\(failedCount) of \(items.count) items failed"
        case .error: failures.first?.description ?? items.first(where: \.failed)?.message
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
