import CorralAPI
import CorralCore
import HTTPTypes
import Hummingbird

/// The one place where errors become HTTP statuses.
enum ErrorMapping {
    static func status(for code: CorralError.Code) -> HTTPResponse.Status {
        switch code {
        case .invalidArgument: .badRequest
        case .unauthorized: .unauthorized
        case .notFound: .notFound
        case .conflict, .invalidState: .conflict
        case .unsupported: .notImplemented
        case .unavailable: .serviceUnavailable
        case .timeout: .gatewayTimeout
        default: .internalServerError
        }
    }

    /// The Unikraft Cloud numeric item error code clients interpret, where one exists.
    static func itemCode(for code: CorralError.Code) -> Int? {
        switch code {
        case .notFound: ItemErrorCode.notFound
        case .conflict: ItemErrorCode.alreadyExists
        default: nil
        }
    }

    /// Any error as a `CorralError`: wire decoding errors are invalid arguments.
    static func corralError(_ error: any Error) -> CorralError {
        switch error {
        case let error as CorralError:
            return error
        case let error as WireDecodingError:
            return .invalidArgument("invalid request: \(error.description)")
        case let error as any HTTPResponseError where error.status == .contentTooLarge:
            return .invalidArgument("invalid request: the body is larger than the \(InstanceRoutes.maximumBody >> 20) MiB allowed")
        default:
            return .internal("failed to handle request", cause: error)
        }
    }
}
