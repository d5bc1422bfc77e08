import CorralCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Moving the calling thread into a network namespace.
enum LinuxNamespace {
    private static let cloneNewNet: Int32 = 0x4000_0000

    private typealias SetnsFunction = @convention(c) (Int32, Int32) -> Int32

    /// Moves the calling thread, and only it, into the network namespace that
    /// `path` (an nsfs file such as `/run/netns/NAME` or `/proc/PID/ns/net`)
    /// refers to. Sockets the thread creates afterwards, and processes it spawns,
    /// belong to that namespace. The thread should not return to a shared pool.
    static func enterNetworkNamespace(at path: String) throws(CorralError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            throw .unavailable("failed to open network namespace \(path): \(String(cString: strerror(code)))")
        }
        defer { close(fd) }
        // Glibc's Swift module does not export setns (glibc declares it only with
        // _GNU_SOURCE), so the symbol is looked up in the already loaded libc.
        guard let handle = dlopen(nil, RTLD_NOW) else {
            throw .unsupported("failed to enter network namespace \(path): the loaded libraries cannot be searched")
        }
        defer { dlclose(handle) }
        guard let symbol = dlsym(handle, "setns") else {
            throw .unsupported("failed to enter network namespace \(path): setns is not available")
        }
        let setns = unsafeBitCast(symbol, to: SetnsFunction.self)
        if setns(fd, cloneNewNet) != 0 {
            let code = errno
            throw .unavailable("failed to enter network namespace \(path): \(String(cString: strerror(code)))")
        }
    }
}
