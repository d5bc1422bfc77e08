import CorralAPI

extension CorralClient {
    /// The single item of a one-instance answer.
    ///
    /// - Throws: when the envelope failed or its item did.
    static func single<Item: BatchItemResult>(_ envelope: Envelope<InstancesData<Item>>) throws(CorralClientError)
        -> Item
    {
        let items = envelope.data?.instances ?? []
        try throwIfFailed(envelope, failedItems: items.filter(\.failed).map(CorralClientError.ItemFailure.init))
        guard let first = items.first else {
            throw CorralClientError(kind: .invalidResponse, message: "corrald's answer names no instance")
        }
        return first
    }

    /// Every item of an answer whose items must all have succeeded.
    static func allSucceeded<Item: BatchItemResult>(_ envelope: Envelope<InstancesData<Item>>) throws(CorralClientError)
        -> [Item]
    {
        let items = envelope.data?.instances ?? []
        try throwIfFailed(envelope, failedItems: items.filter(\.failed).map(CorralClientError.ItemFailure.init))
        return items
    }

    /// Every item of a batch answer, failed ones included.
    ///
    /// - Throws: only when the answer carries no items and failed.
    static func items<Item: BatchItemResult>(_ envelope: Envelope<InstancesData<Item>>) throws(CorralClientError)
        -> [Item]
    {
        let items = envelope.data?.instances ?? []
        if items.isEmpty {
            try throwIfFailed(envelope, failedItems: [])
        }
        return items
    }

    /// The `data` of an answer whose payload is a single object.
    ///
    /// - Throws: when the envelope failed or carries no data.
    static func payload<Payload>(_ envelope: Envelope<Payload>, of answer: String) throws(CorralClientError) -> Payload {
        try throwIfFailed(envelope, failedItems: [])
        guard let data = envelope.data else {
            throw CorralClientError(kind: .invalidResponse, message: "corrald's \(answer) answer carries no data")
        }
        return data
    }

    static func throwIfFailed<Payload>(
        _ envelope: Envelope<Payload>, failedItems failures: [CorralClientError.ItemFailure]
    ) throws(CorralClientError) {
        let errors = envelope.errors ?? []
        guard envelope.status == .error || !failures.isEmpty else { return }
        let itemMessages = failures.compactMap { failure -> String? in
            guard let message = failure.message, !message.isEmpty else { return nil }
            return message
        }
        let message =
            itemMessages.first ?? envelope.message ?? errors.first?.message ?? "corrald reported an error"
        let status =
            errors.first?.status
            ?? failures.lazy.compactMap { $0.error.flatMap(Self.httpStatus(forItemError:)) }.first
            ?? 500
        let timedOut = status == 504 || message.lowercased().contains("timed out")
        throw CorralClientError(
            kind: timedOut ? .timeout : .server, status: status, message: message, errors: errors,
            failedItems: failures)
    }

    /// The HTTP status an item error code stands for, for the codes that have one.
    static func httpStatus(forItemError code: Int) -> Int? {
        switch code {
        case ItemErrorCode.notFound: return 404
        case ItemErrorCode.alreadyExists: return 409
        default: return nil
        }
    }
}
