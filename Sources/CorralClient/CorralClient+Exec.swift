import CorralAPI

extension CorralClient {
    /// The longest a command may run inside an instance, as corrald caps it.
    public static let maximumExecWait: Duration = .seconds(3600)

    /// `POST /v1/instances/{id}/exec` (Corral): runs a command in a running
    /// instance and answers once it has ended, with its exit code and its whole
    /// output (base64).
    ///
    /// A command that runs and exits non-zero is a success of this call. The
    /// request waits `request.timeoutS` seconds plus `requestTimeout`; without a
    /// positive `timeoutS` the daemon's own limit applies, so it waits up to
    /// `maximumExecWait`.
    ///
    /// - Throws: `CorralClientError` with status 409 when the instance is not
    ///   running, 501 when its driver cannot exec, 504 when the command
    ///   outlived its timeout.
    public func exec(_ id: String, _ request: ExecRequestDTO) async throws -> ExecResultDTO {
        let wait: Duration =
            if let seconds = request.timeoutS, seconds > 0 {
                min(.seconds(seconds), Self.maximumExecWait)
            } else {
                Self.maximumExecWait
            }
        let envelope: Envelope<ExecResultDTO> = try await send(
            .POST, Self.instancePath(id, "exec"), body: request, timeout: requestTimeout + wait)
        return try Self.payload(envelope, of: "exec")
    }

    /// `GET /v1/instances/{id}/files?path=` (Corral): a file of a running
    /// instance; `path` is absolute inside it, and `content` comes back base64.
    public func readFile(_ id: String, path: String) async throws -> InstanceFileDTO {
        let envelope: Envelope<InstanceFileDTO> = try await send(
            .GET, Self.instancePath(id, "files"), query: [("path", path)])
        return try Self.payload(envelope, of: "file read")
    }

    /// `PUT /v1/instances/{id}/files` (Corral): writes `file.content` (base64)
    /// to `file.path`, absolute inside the running instance, replacing what is
    /// there; a new file gets `file.mode`, 0644 when `nil`.
    public func writeFile(_ id: String, _ file: InstanceFileDTO) async throws {
        let envelope: Envelope<InstanceFileDTO> = try await send(.PUT, Self.instancePath(id, "files"), body: file)
        try Self.throwIfFailed(envelope, failedItems: [])
    }
}
