import CorralCore

extension VMDriver {
    /// Removes the cached ext4 base disk of image `digest`, for when the image
    /// itself is removed. The caller must know no instance (running or stopped)
    /// still has an overlay over it: an overlay over a rebuilt base would read
    /// other bytes. Idempotent; `timeout` while a build of it goes on.
    public func removeBaseDisk(digest: String) async throws(CorralError) {
        try await assets.disks("remove the base disk of \(digest)").removeBase(digest: digest)
    }
}
