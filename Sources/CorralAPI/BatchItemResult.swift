/// The fields every per-instance answer carries, so a caller can tell the
/// items that failed from those that succeeded.
public protocol BatchItemResult: Codable, Sendable {
    /// `error` when this item failed; absent or `success` otherwise.
    var status: ResponseStatus? { get }
    var message: String? { get }
    /// The API's numeric error code (see `ItemErrorCode`).
    var error: Int? { get }
    var uuid: String? { get }
    var name: String? { get }
}

extension BatchItemResult {
    /// Whether the item reports a failure.
    public var failed: Bool { status == .error }
}

extension InstanceDTO: BatchItemResult {}
