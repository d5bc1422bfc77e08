import CCorralSpawn
import CorralShimFormat
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One dedicated thread waiting in `epoll` on any number of descriptors (pidfds,
/// pipes), so blocking waits never occupy the Swift cooperative pool.
///
/// A watched descriptor belongs to the watcher: it is closed once its handler
/// returns `.done`, its deadline passes, or the watcher stops; a handler that
/// returns `.release` takes it back. Handlers run on the watcher thread, one at a
/// time, and must not block.
public final class DescriptorWatcher: Sendable {
    public enum Event: Sendable, Equatable {
        /// The descriptor is readable (a pidfd: the process has exited).
        case readable
        /// The registration's deadline passed first.
        case timedOut
        /// The watcher was shut down first.
        case stopped
    }

    public enum Disposition: Sendable {
        case done
        case keepWatching
        /// Stop watching without closing, then call `then`, which owns the
        /// descriptor again (and may watch it anew).
        case release(then: @Sendable () -> Void)
    }

    /// Called with the event and the watched descriptor, which stays open for the call.
    public typealias Handler = @Sendable (Event, Int32) -> Disposition

    private struct Registration {
        let handler: Handler
        /// `CLOCK_MONOTONIC` nanoseconds.
        let deadline: UInt64?
    }

    private struct State {
        var registrations: [Int32: Registration] = [:]
        var stopped = false
    }

    private let epollFD: Int32
    private let wakeFD: Int32
    private let state = Mutex(State())

    /// Starts the watcher thread, named `name`.
    public init(name: String) throws(SystemCallError) {
        let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        if epollFD < 0 { throw .last("epoll_create1") }
        let wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        if wakeFD < 0 {
            let error = SystemCallError.last("eventfd")
            close(epollFD)
            throw error
        }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wakeFD
        if epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event) != 0 {
            let error = SystemCallError.last("epoll_ctl")
            close(wakeFD)
            close(epollFD)
            throw error
        }
        self.epollFD = epollFD
        self.wakeFD = wakeFD
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    /// Watches `fd` for readability until `handler` returns `.done` or `deadline`
    /// (`CLOCK_MONOTONIC` nanoseconds) passes. On success the watcher owns `fd`; on
    /// failure the caller still does.
    public func watch(_ fd: Int32, deadline: UInt64? = nil, handler: @escaping Handler) throws(SystemCallError) {
        let result: Result<Void, SystemCallError> = state.withLock { state in
            if state.stopped { return .failure(SystemCallError("watch", errno: ECANCELED)) }
            state.registrations[fd] = Registration(handler: handler, deadline: deadline)
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.fd = fd
            if epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) != 0 {
                state.registrations[fd] = nil
                return .failure(.last("epoll_ctl"))
            }
            return .success(())
        }
        try result.get()
        if deadline != nil { wake() }
    }

    /// Stops the thread. Pending registrations get `.stopped` and their descriptors
    /// are closed; later `watch` calls fail. Idempotent.
    public func shutdown() {
        let first = state.withLock { state in
            defer { state.stopped = true }
            return !state.stopped
        }
        if first { wake() }
    }

    private func wake() {
        var one: UInt64 = 1
        _ = Glibc.write(wakeFD, &one, MemoryLayout<UInt64>.size)
    }

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            let (stopped, nearest) = state.withLock { state in
                (state.stopped, state.registrations.values.compactMap(\.deadline).min())
            }
            if stopped { break }
            var timeout: Int32 = -1
            if let nearest {
                let now = corral_monotonic_ns()
                timeout = nearest <= now ? 0 : Int32(min((nearest - now + 999_999) / 1_000_000, 60_000))
            }
            let count = events.withUnsafeMutableBufferPointer { buffer in
                epoll_wait(epollFD, buffer.baseAddress, Int32(buffer.count), timeout)
            }
            if count < 0 && errno != EINTR { break }
            for index in 0..<Int(max(count, 0)) {
                let fd = events[index].data.fd
                if fd == wakeFD {
                    var value: UInt64 = 0
                    _ = Glibc.read(wakeFD, &value, MemoryLayout<UInt64>.size)
                    continue
                }
                guard let registration = state.withLock({ $0.registrations[fd] }) else { continue }
                switch registration.handler(.readable, fd) {
                case .done: finish(fd, closing: true)
                case .release(let then):
                    finish(fd, closing: false)
                    then()
                case .keepWatching: break
                }
            }
            expire()
        }
        let remaining = state.withLock { state in
            let remaining = state.registrations
            state.registrations = [:]
            for fd in remaining.keys { epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil) }
            close(epollFD)
            close(wakeFD)
            return remaining
        }
        for (fd, registration) in remaining {
            _ = registration.handler(.stopped, fd)
            close(fd)
        }
    }

    private func expire() {
        let now = corral_monotonic_ns()
        let expired = state.withLock { state in
            let due = state.registrations.filter { ($0.value.deadline ?? UInt64.max) <= now }
            for fd in due.keys { state.registrations[fd] = nil }
            return due
        }
        for (fd, registration) in expired {
            _ = registration.handler(.timedOut, fd)
            epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
            close(fd)
        }
    }

    private func finish(_ fd: Int32, closing: Bool) {
        state.withLock { state in
            state.registrations[fd] = nil
            epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
        }
        if closing { close(fd) }
    }
}
