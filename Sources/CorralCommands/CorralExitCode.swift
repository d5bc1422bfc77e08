import CorralAPI
import CorralClient

/// The exit codes of `corral`, chosen once and documented in `--help`.
public enum CorralExitCode: Int32, Sendable, Comparable {
    case success = 0
    /// The daemon failed to do what was asked.
    case failure = 1
    /// The command line or the request was invalid.
    case usage = 2
    case notFound = 3
    /// The request conflicts with the instance's state or another resource.
    case conflict = 4
    case unreachable = 5
    case timeout = 6

    public static func < (lhs: CorralExitCode, rhs: CorralExitCode) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The exit code a client error stands for.
    public init(_ error: CorralClientError) {
        switch error.kind {
        case .unreachable: self = .unreachable
        case .timeout: self = .timeout
        case .invalidEndpoint, .invalidRequest: self = .usage
        case .invalidResponse, .cancelled: self = .failure
        case .server: self = CorralExitCode(httpStatus: error.status)
        }
    }

    /// The exit code an HTTP status stands for.
    public init(httpStatus: Int?) {
        switch httpStatus {
        case 400, 422: self = .usage
        case 404: self = .notFound
        case 409: self = .conflict
        case 408, 504: self = .timeout
        default: self = .failure
        }
    }

    /// The exit code of one failed batch item.
    init(item: some BatchItemResult) {
        switch item.error {
        case ItemErrorCode.notFound: self = .notFound
        case ItemErrorCode.alreadyExists: self = .conflict
        default:
            self = (item.message ?? "").lowercased().contains("timed out") ? .timeout : .failure
        }
    }
}

/// A command's own failure: the message to print (if not printed already) and the exit code.
struct CommandFailure: Error {
    var code: CorralExitCode
    var message: String?

    init(_ code: CorralExitCode, _ message: String? = nil) {
        self.code = code
        self.message = message
    }
}

/// A command that ran another program to completion and ends with that
/// program's exit status, whatever it is, instead of one of `CorralExitCode`.
struct PassedExitStatus: Error {
    /// The status the process exits with: 0 to 255.
    var status: Int32

    /// A program's exit code as a process status: codes outside 0...255, which
    /// an exit status cannot carry, become 255 rather than wrapping (256 would
    /// read as success).
    init(exitCode: Int) {
        status = (0...255).contains(exitCode) ? Int32(exitCode) : 255
    }
}
