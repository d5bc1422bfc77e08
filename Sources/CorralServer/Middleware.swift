import CorralAPI
import CorralCore
import Hummingbird

/// Requires `Authorization: Bearer <token>`; used on TCP listeners only (the unix
/// socket is guarded by its file mode).
struct BearerTokenMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: [UInt8]

    init(token: String) {
        self.token = Array(token.utf8)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              Self.constantTimeEqual(Array(header.utf8.dropFirst(7)), token)
        else {
            return APIResponse.failure(
                CorralError(.unauthorized, "failed to authenticate: a valid 'Authorization: Bearer <token>' header is required"),
                started: started
            )
        }
        return try await next(request, context)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0
    }
}

/// Answers errors that escape the handlers (unknown routes, oversized bodies) with
/// the same envelope as every other error.
struct EnvelopeErrorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        do {
            return try await next(request, context)
        } catch let error as any HTTPResponseError {
            let code: CorralError.Code = switch error.status {
            case .notFound: .notFound
            case .contentTooLarge, .badRequest: .invalidArgument
            case .methodNotAllowed: .unsupported
            default: .internal
            }
            let message = error.status == .notFound
                ? "failed to find route: \(request.method.rawValue) \(request.uri.path) is not an endpoint"
                : "failed to handle \(request.method.rawValue) \(request.uri.path): \(error.status.reasonPhrase)"
            return APIResponse.failure(CorralError(code, message), started: started)
        } catch {
            return APIResponse.failure(ErrorMapping.corralError(error), started: started)
        }
    }
}
