import CorralCore

extension VMDriver {
    /// Removes the cached ext4 base disk of image `digest`, for when the image
    /// itself is removed. The caller must know no instance (running or stopped)
    /// still has an overlay over it: an overlay over a rebuilt base would read
    /// other bytes. Idempotent; `conflict` while the base is being built.
    public func removeBaseDisk(digest: String) throws(CorralError) {
        try assets.disks("remove the base disk of \(digest)").removeBase(digest: digest)
    }
}
