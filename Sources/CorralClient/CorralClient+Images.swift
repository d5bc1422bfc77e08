import Foundation
import CorralAPI

extension CorralClient {
    /// The deadline of a pull, import, removal or prune: the daemon answers only
    /// once the whole image is fetched, unpacked or deleted.
    public static let imageOperationTimeout: Duration = .seconds(30 * 60)

    /// `GET /v1/images`: the stored images, narrowed to those with this digest
    /// and to those this name points at when given.
    public func listImages(digest: String? = nil, tag: String? = nil) async throws -> [ImageDTO] {
        var query: [(String, String)] = []
        if let digest { query.append(("digest", digest)) }
        if let tag { query.append(("tag", tag)) }
        let envelope: Envelope<ImagesData> = try await send(.GET, "/v1/images", query: query)
        try Self.throwIfFailed(envelope, failedItems: [])
        return envelope.data?.images ?? []
    }

    /// `POST /v1/images/pull` (Corral): fetches an image from a registry into the
    /// daemon's store. The daemon answers once the image is stored, which can
    /// take minutes; the request waits up to `timeout`.
    ///
    /// - Returns: the stored image.
    public func pullImage(
        _ request: ImagePullRequest, timeout: Duration = CorralClient.imageOperationTimeout,
        progress: (@Sendable (ImageProgressDTO) -> Void)? = nil
    ) async throws -> ImageDTO {
        if let progress {
            return try await streamImageOperation("/v1/images/pull", body: request, timeout: timeout, progress: progress)
        }
        let envelope: Envelope<ImagesData> = try await send(.POST, "/v1/images/pull", body: request, timeout: timeout)
        return try Self.onlyImage(envelope)
    }

    /// `POST /v1/images/import` (Corral): imports an archive that the daemon
    /// reads from `request.path` on its own host, so the path must be absolute
    /// there. The request waits up to `timeout`.
    ///
    /// - Returns: the stored image.
    public func importImage(
        _ request: ImageImportRequest, timeout: Duration = CorralClient.imageOperationTimeout,
        progress: (@Sendable (ImageProgressDTO) -> Void)? = nil
    ) async throws -> ImageDTO {
        if let progress {
            return try await streamImageOperation("/v1/images/import", body: request, timeout: timeout, progress: progress)
        }
        let envelope: Envelope<ImagesData> = try await send(.POST, "/v1/images/import", body: request, timeout: timeout)
        return try Self.onlyImage(envelope)
    }

    /// `POST /v1/images/remove` (Corral): removes each name, and an image once no
    /// name points at it. The daemon handles the items in order and stops at the
    /// first that fails, keeping the removals before it; send one item per
    /// request to learn the outcome of each.
    ///
    /// - Returns: one entry per image deleted (`url` the reference that deleted
    ///   it, `digest` the image); none when only names went.
    public func removeImages(
        _ items: [ImageRemoveRequestItem], timeout: Duration = CorralClient.imageOperationTimeout
    ) async throws -> [ImageDTO] {
        let envelope: Envelope<ImagesData> = try await send(.POST, "/v1/images/remove", body: items, timeout: timeout)
        try Self.throwIfFailed(envelope, failedItems: [])
        return envelope.data?.images ?? []
    }

    /// `POST /v1/images/prune` (Corral): deletes every image no instance uses.
    ///
    /// - Returns: one entry (`digest` only) per image deleted.
    public func pruneImages(timeout: Duration = CorralClient.imageOperationTimeout) async throws -> [ImageDTO] {
        let envelope: Envelope<ImagesData> = try await send(.POST, "/v1/images/prune", timeout: timeout)
        try Self.throwIfFailed(envelope, failedItems: [])
        return envelope.data?.images ?? []
    }

    /// A pull or import with `?progress=true`: reads the NDJSON stream, reporting
    /// each progress line, and answers from its final `result` line.
    func streamImageOperation(
        _ path: String, body: some Encodable, timeout: Duration, progress: @Sendable (ImageProgressDTO) -> Void
    ) async throws -> ImageDTO {
        let request = try makeRequest(.POST, path, query: [("progress", "true")], body: body)
        var result: Envelope<ImagesData>?
        do {
            let response = try await httpClient.execute(request, timeout: .nanoseconds(Self.nanoseconds(timeout)))
            let status = Int(response.status.code)
            guard status == 200 else {
                let bytes = Data(try await response.body.collect(upTo: maxResponseBytes).readableBytesView)
                let answer: Answer<ImagesData> = try Self.decodeAnswer(status: status, bytes: bytes)
                return try Self.onlyImage(try Self.adoptStatus(answer))
            }
            var pending = Data()
            let decoder = JSONDecoder()
            for try await buffer in response.body {
                pending.append(contentsOf: buffer.readableBytesView)
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = pending[pending.startIndex..<newline]
                    pending.removeSubrange(pending.startIndex...newline)
                    guard !line.isEmpty else { continue }
                    let decoded = try decoder.decode(ImageStreamLine.self, from: line)
                    if let step = decoded.progress { progress(step) }
                    if let envelope = decoded.result { result = envelope }
                }
            }
        } catch let error as DecodingError {
            throw CorralClientError(kind: .invalidResponse, message: "cannot decode corrald's progress stream: \(error)")
        } catch {
            throw transportError(error, deadline: timeout)
        }
        guard let result else {
            throw CorralClientError(kind: .invalidResponse, message: "corrald's progress stream ended without a result")
        }
        return try Self.onlyImage(result)
    }

    static func onlyImage(_ envelope: Envelope<ImagesData>) throws(CorralClientError) -> ImageDTO {
        try throwIfFailed(envelope, failedItems: [])
        guard let image = envelope.data?.images?.first else {
            throw CorralClientError(kind: .invalidResponse, message: "corrald's answer names no image")
        }
        return image
    }
}
