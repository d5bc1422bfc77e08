import CorralCore

extension HostCommand {
    /// Starts the program with `stdin`, `stdout` and `stderr` as its standard
    /// descriptors (the caller keeps and closes its own copies) and returns its
    /// pid at once, without waiting for it; `stdin` and `outputLimit` are not
    /// used. The caller is the parent and must reap it (`HostProcess.reapIfChild`
    /// once its pidfd is readable).
    public func start(stdin: Int32, stdout: Int32, stderr: Int32) throws(CorralError) -> Int32 {
        do {
            return try spawnProcess(stdin: stdin, stdout: stdout, stderr: stderr)
        } catch {
            throw CorralError(.unavailable, "failed to run \(executable)", cause: error)
        }
    }
}
