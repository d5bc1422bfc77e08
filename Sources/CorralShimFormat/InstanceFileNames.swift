/// The names of the files in an instance directory that the shim and the drivers
/// share. The log trio (`log`, `log.1`, `log.offset`) outlives the runs of an
/// instance; everything else is a runtime file of one run.
public enum InstanceFileNames {
    /// The log segment being appended to.
    public static let log = "log"
    /// The previous log segment, rotated out of `log`.
    public static let previousLog = "log.1"
    /// The `LogOffsetRecord`: absolute offset at which a segment starts.
    public static let logOffset = "log.offset"
    /// The `ShimParameters` for the current run.
    public static let parameters = "shim.params"
    /// The `StateRecord` of the current run.
    public static let state = "state"
    /// The `ExitRecord` of the current run.
    public static let exit = "exit"

    /// Files that belong to one run and go when the instance is cleaned up.
    public static let runtime = [parameters, state, exit]
}
