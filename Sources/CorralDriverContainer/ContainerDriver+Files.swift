import CorralCore
import CorralHost
import CorralShimFormat
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension ContainerDriver {
    /// Reads a regular file of the running container, as its processes see it.
    ///
    /// `path` is resolved inside the container's root (`/proc/<init>/root`):
    /// `..` stops at the root and symlinks, absolute ones included, resolve inside
    /// it, so no path reaches a file of the host. Fails with `notFound` when there is
    /// no such file, `invalidArgument` for a directory, another kind of file or one
    /// larger than `fileSizeLimit`, `invalidState` unless the container runs.
    public func readFile(_ uuid: UUID, handle: DriverHandle, path: String) async throws(CorralError) -> [UInt8] {
        let root = try containerRoot(handle, path: path, verb: "read")
        do {
            guard let bytes = try root.read(path, limit: Self.fileSizeLimit) else {
                throw CorralError.notFound("failed to read file \(path): no such file in the instance")
            }
            return bytes
        } catch let error as CorralError {
            throw error
        } catch let error as SystemCallError {
            throw Self.fileFailure(error, path: path, verb: "read")
        } catch {
            throw CorralError(.internal, "failed to read file \(path)", cause: error)
        }
    }

    /// Replaces a file of the running container with `contents` and permission
    /// bits `mode`, atomically, owned by root; its directory must exist. Resolved
    /// like `readFile`: nothing outside the container's root can be written.
    public func writeFile(
        _ uuid: UUID, handle: DriverHandle, path: String, contents: [UInt8], mode: UInt32
    ) async throws(CorralError) {
        guard mode <= 0o7777 else { throw .invalidArgument("invalid mode \(String(mode, radix: 8)): must be at most 7777 (octal)") }
        let root = try containerRoot(handle, path: path, verb: "write")
        do {
            try root.write(path, contents, mode: mode_t(mode))
        } catch {
            throw Self.fileFailure(error, path: path, verb: "write")
        }
    }

    /// The container's root as its init sees it, opened while the init is known
    /// to be the one `handle` names.
    private func containerRoot(_ handle: DriverHandle, path: String, verb: String) throws(CorralError) -> ConfinedDirectory {
        guard path.hasPrefix("/"), !path.utf8.contains(0) else {
            throw .invalidArgument("invalid path '\(path)': must be an absolute path")
        }
        let pid = handle.workloadPID, start = handle.workloadStartTime
        guard HostProcess.isAlive(pid: pid, startTime: start) else {
            throw .invalidState("failed to \(verb) file \(path): the instance is not running")
        }
        let root: ConfinedDirectory
        do {
            root = try ConfinedDirectory(path: "/proc/\(pid)/root")
        } catch {
            throw .invalidState("failed to \(verb) file \(path): the instance is not running")
        }
        // The pid could have been reused between the check and the open.
        guard HostProcess.isAlive(pid: pid, startTime: start) else {
            throw .invalidState("failed to \(verb) file \(path): the instance is not running")
        }
        return root
    }

    private static func fileFailure(_ error: SystemCallError, path: String, verb: String) -> CorralError {
        switch error.errno {
        case ENOENT, ENOTDIR:
            return .notFound("failed to \(verb) file \(path): no such file or directory in the instance")
        case EISDIR:
            return .invalidArgument("failed to \(verb) file \(path): it is a directory")
        case EINVAL:
            return .invalidArgument("failed to \(verb) file \(path): not a regular file")
        case EFBIG:
            return .invalidArgument("failed to \(verb) file \(path): larger than \(fileSizeLimit) bytes")
        case EXDEV, ELOOP:
            return .invalidArgument("failed to \(verb) file \(path): the path leaves the instance's root or loops")
        case EACCES, EPERM, EROFS:
            return .invalidArgument("failed to \(verb) file \(path): \(error.reason)")
        case ENOSYS:
            return .unsupported("failed to \(verb) file \(path): the kernel lacks openat2 (Linux 5.6)")
        default:
            return CorralError(.internal, "failed to \(verb) file \(path)", cause: error)
        }
    }
}
