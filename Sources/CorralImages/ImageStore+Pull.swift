import CorralCore
import CorralHost
import CorralShimFormat
import Foundation
import Synchronization

extension ImageStore {
    /// Pulls `reference` from its registry with skopeo and names it `reference`
    /// (normalised) in the store.
    ///
    /// Blobs already stored are shared, not duplicated. Plain HTTP or unverified
    /// TLS is used only when `options.insecure` is set or the registry is listed in
    /// `Configuration.insecureRegistries`. Credentials reach skopeo through an auth
    /// file readable only by the daemon, never its command line. The pulled image is
    /// the one for this host's platform when the registry serves a manifest list.
    ///
    /// `progress` is called from another thread when skopeo starts each blob
    /// (`layersTotal` is 0 while unknown, and `bytesDone` counts blobs completed),
    /// and once at the end with the totals. Errors: `notFound` (no such image or
    /// tag), `unauthorized`, `unavailable` (registry unreachable, skopeo missing),
    /// `timeout`, `invalidArgument` (bad reference).
    public func pull(
        _ reference: String, options: PullOptions, progress: @escaping @Sendable (ImageProgress) -> Void
    ) async throws(CorralError) -> StoredImage {
        let parsed = try ImageReference(parsing: reference)
        let action = "pull image '\(parsed)'"
        let skopeo = try requireSkopeo(action)
        if let credentials = options.credentials, !credentials.contains(":") {
            throw .invalidArgument("failed to \(action): credentials must be user:password")
        }
        let insecure = options.insecure || configuration.insecureRegistries.contains(parsed.registry)
        return try await contentLock.withLock(.shared) { () throws(CorralError) -> StoredImage in
            let work = try makeWorkDirectory("pull", action: action)
            defer { removeWorkDirectory(work) }
            var arguments = ["copy", "--dest-shared-blob-dir", layout.blobsDirectory]
            if insecure { arguments.append("--src-tls-verify=false") }
            if let credentials = options.credentials {
                let authFile = "\(work)/auth.json"
                try writeAuthFile(authFile, registry: parsed.registry, credentials: credentials, action: action)
                arguments += ["--src-authfile", authFile]
            }
            arguments += ["docker://\(parsed)", "oci:\(work)/layout:image"]
            let copied = try await copyWithSkopeo(
                skopeo, arguments, work: work, timeout: configuration.pullTimeout, action: action, progress: progress
            )
            return try await register(manifest: copied.digest, sizeBytes: copied.sizeBytes, reference: parsed.description)
        }
    }

    func requireSkopeo(_ action: String) throws(CorralError) -> String {
        guard let skopeo = configuration.skopeoPath else {
            throw .unavailable("failed to \(action): skopeo is not installed")
        }
        return skopeo
    }

    /// What a skopeo copy into a work layout produced, its blobs now in the store.
    struct CopiedImage {
        var digest: ImageDigest
        var manifest: OCIManifest
        var sizeBytes: Int64
    }

    /// Runs `skopeo copy` into `<work>/layout` (blobs go straight to the shared
    /// blob directory) and checks what arrived.
    func copyWithSkopeo(
        _ skopeo: String, _ arguments: [String], work: String, timeout: Duration, action: String,
        progress: @escaping @Sendable (ImageProgress) -> Void
    ) async throws(CorralError) -> CopiedImage {
        let tracker = CopyProgress(layout: layout, report: progress)
        let output = try await CommandRunner.run(
            skopeo, skopeoGlobalArguments + arguments, environment: toolEnvironment, timeout: timeout, action: action,
            onOutputLine: { tracker.line($0) }
        )
        guard output.status == 0 else { throw Self.skopeoError(output.stderr, status: output.status, action: action) }

        let workLayout = OCILayout(path: "\(work)/layout")
        let descriptors = try workLayout.readIndex().manifests
        guard descriptors.count == 1, let descriptor = descriptors.first else {
            throw .internal("failed to \(action): skopeo wrote \(descriptors.count) manifests, expected 1")
        }
        guard descriptor.mediaType == OCIMediaType.imageManifest else {
            throw .unsupported("failed to \(action): skopeo wrote a \(descriptor.mediaType), not an OCI image manifest")
        }
        let digest = try ImageDigest.parse(descriptor.digest, action: action)
        let manifest = try layout.readManifest(digest)
        for blob in [manifest.config] + manifest.layers {
            let blobDigest = try ImageDigest.parse(blob.digest, action: action)
            guard layout.hasBlob(blobDigest, size: blob.size) else {
                throw .internal("failed to \(action): blob \(blobDigest) did not arrive in the store")
            }
        }
        let size = descriptor.size + manifest.config.size + manifest.layers.reduce(0) { $0 + $1.size }
        progress(
            ImageProgress(
                layersDone: manifest.layers.count, layersTotal: manifest.layers.count, bytesDone: size,
                message: "stored \(digest)"
            )
        )
        return CopiedImage(digest: digest, manifest: manifest, sizeBytes: size)
    }

    private func writeAuthFile(_ path: String, registry: String, credentials: String, action: String) throws(CorralError) {
        struct AuthFile: Encodable {
            struct Entry: Encodable { var auth: String }
            var auths: [String: Entry]
        }
        let token = Data(credentials.utf8).base64EncodedString()
        let bytes = try StoreJSON.encode(AuthFile(auths: [registry: .init(auth: token)]), action: action)
        do throws(SystemCallError) {
            try RawFile.writeAtomically(path, bytes, durable: false, mode: 0o600)
        } catch {
            throw .internal("failed to \(action): cannot write the registry auth file: \(error)")
        }
    }

    /// Turns skopeo's failure output into an error with a code that says what went wrong.
    static func skopeoError(_ stderr: String, status: Int32, action: String) -> CorralError {
        let reason = skopeoMessage(stderr) ?? "skopeo exited with status \(status)"
        let lowered = reason.lowercased()
        let code: CorralError.Code
        if lowered.contains("manifest unknown") || lowered.contains("name unknown") || lowered.contains("not found")
            || lowered.contains("no such file") || lowered.contains("does not exist")
        {
            code = .notFound
        } else if lowered.contains("unauthorized") || lowered.contains("authentication required")
            || lowered.contains("denied")
        {
            code = .unauthorized
        } else if lowered.contains("connection refused") || lowered.contains("no such host")
            || lowered.contains("i/o timeout") || lowered.contains("network is unreachable")
            || lowered.contains("server gave http response to https client") || lowered.contains("tls")
        {
            code = .unavailable
        } else {
            code = .internal
        }
        return CorralError(code, "failed to \(action): \(reason)")
    }

    /// The `msg="…"` of skopeo's fatal log line, else its last non-empty line.
    static func skopeoMessage(_ stderr: String) -> String? {
        let lines = stderr.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        guard let last = lines.last(where: { $0.contains("level=fatal") || $0.contains("level=error") }) ?? lines.last
        else { return nil }
        guard let start = last.range(of: "msg=\"") else { return last }
        var message = ""
        var escaped = false
        for character in last[start.upperBound...] {
            if escaped {
                message.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                break
            } else {
                message.append(character)
            }
        }
        return message
    }
}

/// Follows skopeo's "Copying blob sha256:…" lines. Blobs are announced as they
/// start (several may copy at once); a blob counts as done once its file is in the
/// store.
final class CopyProgress: Sendable {
    private let layout: OCILayout
    private let report: @Sendable (ImageProgress) -> Void
    private let announced = Mutex<[ImageDigest]>([])

    init(layout: OCILayout, report: @escaping @Sendable (ImageProgress) -> Void) {
        self.layout = layout
        self.report = report
    }

    func line(_ line: String) {
        let blobPrefix = "Copying blob "
        let configPrefix = "Copying config "
        let isBlob = line.hasPrefix(blobPrefix)
        guard isBlob || line.hasPrefix(configPrefix) else { return }
        let rest = line.dropFirst(isBlob ? blobPrefix.count : configPrefix.count)
        let digest = rest.split(separator: " ").first.flatMap { ImageDigest(String($0)) }
        let blobs = announced.withLock { list in
            if isBlob, let digest, !list.contains(digest) { list.append(digest) }
            return list
        }
        var done = 0
        var bytes: Int64 = 0
        for blob in blobs {
            guard let identity = RawFile.identity(layout.blobPath(blob)) else { continue }
            if isBlob, blob == digest { continue }
            done += 1
            bytes += identity.size
        }
        let shown = digest.map { String($0.description.prefix(19)) } ?? String(rest.prefix(19))
        report(
            ImageProgress(
                layersDone: isBlob ? done : blobs.count, layersTotal: 0, bytesDone: bytes,
                message: isBlob ? "copying layer \(shown)" : "copying config \(shown)"
            )
        )
    }
}
