extension Envelope {
    /// A successful answer carrying `data`.
    public static func success(_ data: Payload, opTimeUs: Int? = nil) -> Envelope {
        Envelope(status: .success, data: data, opTimeUs: opTimeUs)
    }

    /// A failed answer: `message` at the top and one `errors` entry with the
    /// HTTP status (and the API's numeric code, when there is one).
    public static func failure(
        httpStatus: Int, message: String, error: Int? = nil, data: Payload? = nil, opTimeUs: Int? = nil
    ) -> Envelope {
        Envelope(
            status: .error, message: message, data: data,
            errors: [ResponseError(status: httpStatus, message: message, error: error)], opTimeUs: opTimeUs)
    }
}

extension ResponseStatus {
    /// The envelope status of a batch answer: `success` when no item failed,
    /// `error` when every item failed, `partial_success` otherwise. An empty
    /// batch succeeded.
    public static func aggregate(_ items: [some BatchItemResult]) -> ResponseStatus {
        let failed = items.filter(\.failed).count
        if failed == 0 { return .success }
        return failed == items.count ? .error : .partialSuccess
    }
}
