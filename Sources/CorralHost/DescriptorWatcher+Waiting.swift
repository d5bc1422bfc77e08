import CorralShimFormat

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension DescriptorWatcher {
    /// What `readLine` found.
    public enum LineResult: Sendable, Equatable {
        /// A complete line, without its newline, and the bytes read past it. The
        /// descriptor is the caller's again, open.
        case line([UInt8], rest: [UInt8])
        /// The writer closed the pipe; the bytes read before that, if any.
        case endOfFile([UInt8])
        case timedOut
        case stopped
        case failed(SystemCallError)
    }

    /// Reads `fd` until the first newline or end of file, without blocking a Swift
    /// thread. Takes ownership of `fd`, and gives it back with a `.line`.
    public func readLine(from fd: Int32, deadline: UInt64) async -> LineResult {
        await withCheckedContinuation { (continuation: CheckedContinuation<LineResult, Never>) in
            let buffer = WatcherConfined<[UInt8]>([])
            do throws(SystemCallError) {
                try watch(fd, deadline: deadline) { event, fd in
                    switch event {
                    case .timedOut:
                        continuation.resume(returning: .timedOut)
                        return .done
                    case .stopped:
                        continuation.resume(returning: .stopped)
                        return .done
                    case .readable:
                        var chunk = [UInt8](repeating: 0, count: 512)
                        let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                        if n < 0 {
                            if errno == EINTR || errno == EAGAIN { return .keepWatching }
                            continuation.resume(returning: .failed(.last("read")))
                            return .done
                        }
                        if n == 0 {
                            continuation.resume(returning: .endOfFile(buffer.value))
                            return .done
                        }
                        buffer.value.append(contentsOf: chunk[0..<n])
                        if let newline = buffer.value.firstIndex(of: UInt8(ascii: "\n")) {
                            let line = LineResult.line(Array(buffer.value[..<newline]), rest: Array(buffer.value[(newline + 1)...]))
                            return .release { continuation.resume(returning: line) }
                        }
                        return .keepWatching
                    }
                }
            } catch {
                close(fd)
                continuation.resume(returning: .failed(error))
            }
        }
    }

    /// Waits until `fd` is readable (a pidfd: its process has exited), the deadline
    /// passes, or the watcher stops. Takes ownership of `fd` in every case.
    public func waitReadable(_ fd: Int32, deadline: UInt64) async -> Event {
        await withCheckedContinuation { (continuation: CheckedContinuation<Event, Never>) in
            do throws(SystemCallError) {
                try watch(fd, deadline: deadline) { event, _ in
                    continuation.resume(returning: event)
                    return .done
                }
            } catch {
                close(fd)
                continuation.resume(returning: .stopped)
            }
        }
    }
}

/// State touched only by handlers of one registration, which the watcher thread
/// runs one at a time; the box exists to let those handlers share it.
final class WatcherConfined<Value>: @unchecked Sendable {
    var value: Value

    init(_ value: Value) {
        self.value = value
    }
}

extension DescriptorWatcher {
    /// What `readAll` collected.
    public struct Collected: Sendable, Equatable {
        /// The first bytes read, up to the limit.
        public var bytes: [UInt8]
        /// How many bytes past the limit were read and dropped.
        public var dropped: Int
        /// Whether the writer closed the pipe (false: the deadline or a failure came first).
        public var complete: Bool
    }

    /// Reads `fd` until end of file or `deadline`, keeping the first `limit` bytes
    /// and counting the rest. Takes ownership of `fd` in every case.
    public func readAll(from fd: Int32, limit: Int, deadline: UInt64) async -> Collected {
        await withCheckedContinuation { (continuation: CheckedContinuation<Collected, Never>) in
            let collected = WatcherConfined(Collected(bytes: [], dropped: 0, complete: false))
            do throws(SystemCallError) {
                try watch(fd, deadline: deadline) { event, fd in
                    guard event == .readable else {
                        continuation.resume(returning: collected.value)
                        return .done
                    }
                    var chunk = [UInt8](repeating: 0, count: 65536)
                    let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                    if n < 0 {
                        if errno == EINTR || errno == EAGAIN { return .keepWatching }
                        continuation.resume(returning: collected.value)
                        return .done
                    }
                    if n == 0 {
                        collected.value.complete = true
                        continuation.resume(returning: collected.value)
                        return .done
                    }
                    let keep = max(0, min(n, limit - collected.value.bytes.count))
                    collected.value.bytes.append(contentsOf: chunk[0..<keep])
                    collected.value.dropped += n - keep
                    return .keepWatching
                }
            } catch {
                close(fd)
                continuation.resume(returning: Collected(bytes: [], dropped: 0, complete: false))
            }
        }
    }
}
