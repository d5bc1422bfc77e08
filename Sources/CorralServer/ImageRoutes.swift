import CorralAPI
import CorralCore
import CorralEngine
import Foundation
import Hummingbird

/// `GET /v1/images` in Unikraft Cloud's format, and Corral's image store endpoints:
/// pull, import, remove, prune.
struct ImageRoutes: Sendable {
    let images: (any ImageStoreService)?
    let engine: InstanceEngine

    func register(on router: Router<BasicRequestContext>) {
        let v1 = router.group("v1")
        v1.get("images") { request, _ in await APIResponse.handle { try await list(request) } }
        v1.get("image-store") { request, _ in await APIResponse.handle { try await list(request) } }
        v1.post("images/pull") { request, _ in await APIResponse.handle { try await pull(request) } }
        v1.post("images/import") { request, _ in await APIResponse.handle { try await importArchive(request) } }
        v1.post("images/remove") { request, _ in await APIResponse.handle { try await remove(request) } }
        v1.post("images/prune") { _, _ in await APIResponse.handle { try await prune() } }
    }

    private func store() throws(CorralError) -> any ImageStoreService {
        guard let images else { throw .unavailable("failed to reach the image store: this daemon runs without one") }
        return images
    }

    private func list(_ request: Request) async throws -> Response {
        let started = ContinuousClock.now
        let query = request.uri.queryParameters
        var stored = try await store().list()
        if let digest = query.get("digest") { stored = stored.filter { $0.digest == digest } }
        if let tag = query.get("tag") { stored = stored.filter { $0.references.contains(tag) || $0.references.contains("\(tag):latest") } }
        let users = usersByDigest()
        return APIResponse.success(ImagesData(images: stored.map { $0.wire(users: users[$0.digest] ?? []) }), started: started)
    }

    private func pull(_ request: Request) async throws -> Response {
        let body = try StrictJSON.decode(ImagePullRequest.self, from: try await InstanceRoutes.body(request))
        let store = try store()
        let options = PullOptions(credentials: body.credentials, insecure: body.insecure ?? false)
        return try await respond(request) { progress in
            try await store.pull(body.reference, options: options, progress: progress)
        }
    }

    /// Runs a pull or import: answers the envelope when it is done, or, with
    /// `?progress=true`, streams progress lines and then the envelope as NDJSON.
    private func respond(
        _ request: Request,
        _ operation: @escaping @Sendable (@escaping @Sendable (ImageProgress) -> Void) async throws -> StoredImage
    ) async throws -> Response {
        let started = ContinuousClock.now
        guard request.uri.queryParameters.get("progress") == "true" else {
            let image = try await operation { _ in }
            return APIResponse.success(ImagesData(images: [image.wire(users: usersByDigest()[image.digest] ?? [])]), started: started)
        }
        let engine = self.engine
        let body = ResponseBody { writer in
            let (lines, continuation) = AsyncStream<ImageStreamLine>.makeStream(bufferingPolicy: .bufferingNewest(64))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let result: Envelope<ImagesData>
                    do {
                        let image = try await operation { progress in
                            continuation.yield(ImageStreamLine(progress: ImageProgressDTO(
                                layersDone: progress.layersDone, layersTotal: progress.layersTotal,
                                bytesDone: Int(progress.bytesDone), message: progress.message
                            )))
                        }
                        let users = engine.list().filter { $0.spec.image?.hasSuffix("@\(image.digest)") == true }.map(\.name)
                        result = Envelope(status: .success, data: ImagesData(images: [image.wire(users: users)]),
                                          opTimeUs: APIResponse.elapsedMicroseconds(since: started))
                    } catch {
                        let failure = ErrorMapping.corralError(error)
                        let status = ErrorMapping.status(for: failure.code)
                        result = Envelope(status: .error, message: failure.description, errors: [
                            ResponseError(status: Int(status.code), message: failure.description, error: ErrorMapping.itemCode(for: failure.code)),
                        ], opTimeUs: APIResponse.elapsedMicroseconds(since: started))
                    }
                    continuation.yield(ImageStreamLine(result: result))
                    continuation.finish()
                }
                for await line in lines {
                    var data = try APIResponse.encoder.encode(line)
                    data.append(0x0A)
                    try await writer.write(ByteBuffer(bytes: data))
                }
                try await group.waitForAll()
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: body)
    }

    private func importArchive(_ request: Request) async throws -> Response {
        let body = try StrictJSON.decode(ImageImportRequest.self, from: try await InstanceRoutes.body(request))
        guard let format = ImageArchiveFormat(rawValue: body.format) else {
            throw CorralError.invalidArgument("invalid field 'format' '\(body.format)': expected oci-archive, docker-archive or rootfs")
        }
        guard body.path.hasPrefix("/") else {
            throw CorralError.invalidArgument("invalid field 'path' '\(body.path)': must be an absolute path on the daemon's host")
        }
        let store = try store()
        return try await respond(request) { progress in
            try await store.importArchive(path: body.path, format: format, reference: body.name, progress: progress)
        }
    }

    private func remove(_ request: Request) async throws -> Response {
        let started = ContinuousClock.now
        let items = try StrictJSON.decode([ImageRemoveRequestItem].self, from: try await InstanceRoutes.body(request))
        var removed: [ImageDTO] = []
        for item in items {
            for digest in try await store().remove(item.reference, inUse: engine.imagesInUse()) {
                removed.append(ImageDTO(url: item.reference, digest: digest))
            }
        }
        return APIResponse.success(ImagesData(images: removed), started: started)
    }

    private func prune() async throws -> Response {
        let started = ContinuousClock.now
        let removed = try await store().prune(inUse: engine.imagesInUse())
        return APIResponse.success(ImagesData(images: removed.map { ImageDTO(digest: $0) }), started: started)
    }

    private func usersByDigest() -> [String: [String]] {
        var users: [String: [String]] = [:]
        for record in engine.list() {
            guard let image = record.spec.image, let at = image.range(of: "@sha256:") else { continue }
            users[String(image[image.index(after: at.lowerBound)...]), default: []].append(record.name)
        }
        return users
    }
}

extension StoredImage {
    func wire(users: [String]) -> ImageDTO {
        var env: [String: String] = [:]
        for entry in config.env {
            guard let equals = entry.firstIndex(of: "=") else { continue }
            env[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        let name = references.first.map { $0.split(separator: "@").first.map(String.init) ?? $0 }
        return ImageDTO(
            url: name.map { "\($0)@\(digest)" } ?? digest,
            createdAt: WireDate.format(Date(timeIntervalSince1970: createdAt)),
            sizeInBytes: Int(sizeBytes),
            args: config.entrypoint + config.cmd,
            env: env,
            tags: references,
            users: users,
            digest: digest
        )
    }
}
