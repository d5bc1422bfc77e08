import CCorralSpawn
import CorralShimFormat

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts supervisor processes (such as `corral-shim`) that must outlive the daemon.
public enum DetachedSpawn {
    /// A close-on-exec pipe: `(read, write)`.
    public static func makePipe() throws(SystemCallError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        if corral_pipe_cloexec(&fds) != 0 { throw .last("pipe2") }
        return (fds[0], fds[1])
    }

    /// Spawns `executable` with `arguments` (`argv[1...]`) and `environment` in its
    /// own session, stdio on `/dev/null`, default signal dispositions, and
    /// `descriptor` as its fd 3 (`passing` as 4 onwards); nothing else is
    /// inherited. Returns its pid. The caller remains its parent and must reap it.
    public static func spawn(
        executable: String,
        arguments: [String],
        environment: [String] = [],
        descriptor: Int32,
        passing: [Int32] = []
    ) throws(SystemCallError) -> Int32 {
        var pid: pid_t = 0
        let descriptors = [descriptor] + passing
        let rc = withCStrings([executable] + arguments) { argv in
            withCStrings(environment) { envp in
                descriptors.withUnsafeBufferPointer { fds in
                    corral_spawn_detached(executable, argv, envp, fds.baseAddress, Int32(fds.count), &pid)
                }
            }
        }
        if rc != 0 { throw SystemCallError("posix_spawn", path: executable, errno: rc) }
        return pid
    }

    /// Calls `body` with a NULL-terminated array of C strings that lives for the call.
    static func withCStrings<R>(
        _ strings: [String],
        _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>?) -> R
    ) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}
