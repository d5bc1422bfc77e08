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
    /// `progress` is called from another thread when skopeo starts each blob and
    /// every `progressInterval` while bytes arrive (`layersTotal` is 0 while
    /// unknown; `bytesDone` counts blobs completed and the parts of those still
    /// arriving), and once at the end with the totals. Errors: `notFound` (no such image or
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

    /// How often a running pull or import reports the bytes arrived so far.
    static let progressInterval: Duration = .milliseconds(250)

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
        let tracker = CopyProgress(layout: layout, workLayout: "\(work)/layout", report: progress)
        let sampler = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: Self.progressInterval)
                if !Task.isCancelled { tracker.sample() }
            }
        }
        defer { sampler.cancel() }
        let output = try await CommandRunner.run(
            skopeo, skopeoGlobalArguments + arguments, environment: toolEnvironment, timeout: timeout, action: action,
            onOutputLine: { tracker.line($0) }
        )
        // Done sampling before the totals, so no sample follows them.
        sampler.cancel()
        await sampler.value
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
/// store. Between lines, `sample` adds the bytes of the blobs still arriving:
/// skopeo writes each into an `oci-put-blob*` file in the work layout first.
final class CopyProgress: Sendable {
    static let partialPrefix = "oci-put-blob"

    private struct State {
        var announced: [ImageDigest] = []
        var last = ImageProgress(layersDone: 0, layersTotal: 0, bytesDone: 0, message: "starting")
    }

    private let layout: OCILayout
    private let workLayout: String
    private let report: @Sendable (ImageProgress) -> Void
    private let state = Mutex(State())

    init(layout: OCILayout, workLayout: String, report: @escaping @Sendable (ImageProgress) -> Void) {
        self.layout = layout
        self.workLayout = workLayout
        self.report = report
    }

    func line(_ line: String) {
        let blobPrefix = "Copying blob "
        let configPrefix = "Copying config "
        let isBlob = line.hasPrefix(blobPrefix)
        guard isBlob || line.hasPrefix(configPrefix) else { return }
        let rest = line.dropFirst(isBlob ? blobPrefix.count : configPrefix.count)
        let digest = rest.split(separator: " ").first.flatMap { ImageDigest(String($0)) }
        let blobs = state.withLock { state in
            if isBlob, let digest, !state.announced.contains(digest) { state.announced.append(digest) }
            return state.announced
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
        publish(ImageProgress(
            layersDone: isBlob ? done : blobs.count, layersTotal: 0, bytesDone: bytes + partialBytes(),
            message: isBlob ? "copying layer \(shown)" : "copying config \(shown)"
        ))
    }

    /// Reports the bytes that arrived since the last report, if any did.
    func sample() {
        let blobs = state.withLock { $0.announced }
        var done = 0
        var bytes = partialBytes()
        for blob in blobs {
            guard let identity = RawFile.identity(layout.blobPath(blob)) else { continue }
            done += 1
            bytes += identity.size
        }
        let last = state.withLock { $0.last }
        guard bytes > last.bytesDone else { return }
        publish(ImageProgress(
            layersDone: max(done, last.layersDone), layersTotal: 0, bytesDone: bytes, message: last.message))
    }

    /// What the blobs being written hold so far.
    private func partialBytes() -> Int64 {
        let names = (try? FileSystem.entries(of: workLayout)) ?? []
        return names.filter { $0.hasPrefix(Self.partialPrefix) }
            .compactMap { RawFile.identity("\(workLayout)/\($0)")?.size }
            .reduce(0, +)
    }

    /// Reports `progress`, never fewer bytes than before (a blob moves from its
    /// partial file into the store between two looks).
    private func publish(_ progress: ImageProgress) {
        var progress = progress
        state.withLock { state in
            progress.bytesDone = max(progress.bytesDone, state.last.bytesDone)
            state.last = progress
        }
        report(progress)
    }
}
