import CorralCore
import CorralHost
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A container started ahead of time for an image, its init (`corral-standby`)
/// waiting on `channel` for the command of the instance that takes it over.
struct Standby: Sendable {
    let uuid: UUID
    let digest: String
    /// The daemon's end of the launch channel (SOCK_SEQPACKET).
    let channel: Int32
    /// The shim and the waiting init, whose pid the workload keeps.
    let handle: DriverHandle
}

/// The container driver's standbys, by image: which are ready, which an instance
/// being created has claimed, and which images to keep them for (the most recently
/// started ones, with the spec to prepare them from). Only bookkeeping: the driver
/// makes and discards the containers.
final class StandbyPool: Sendable {
    /// Standbys kept per image; 0 keeps none.
    let perImage: Int
    /// Images standbys are kept for; the least recently started one loses its own.
    let maxImages: Int

    private struct State {
        var ready: [String: [Standby]] = [:]
        var claimed: [UUID: Standby] = [:]
        /// Most recently started last: digest and the spec standbys are made from.
        var images: [(digest: String, template: InstanceSpec)] = []
        var filling = false
        var closed = false
    }

    private let state = Mutex(State())

    init(perImage: Int, maxImages: Int = 2) {
        self.perImage = max(0, perImage)
        self.maxImages = max(1, maxImages)
    }

    /// Moves a ready standby of `digest` to the claimed ones and returns its uuid.
    func claim(digest: String) -> UUID? {
        state.withLock { state in
            guard !state.closed, var ready = state.ready[digest], let standby = ready.popLast() else { return nil }
            state.ready[digest] = ready
            state.claimed[standby.uuid] = standby
            return standby.uuid
        }
    }

    /// The claimed standby `uuid`, no longer in the pool.
    func takeClaimed(_ uuid: UUID) -> Standby? {
        state.withLock { $0.claimed.removeValue(forKey: uuid) }
    }

    /// Notes an image just started (with its spec as the template for standbys)
    /// and returns the standbys of images that no longer keep any.
    func noteStarted(digest: String, template: InstanceSpec) -> [Standby] {
        guard perImage > 0 else { return [] }
        return state.withLock { state in
            guard !state.closed else { return [] }
            state.images.removeAll { $0.digest == digest }
            state.images.append((digest, template))
            var evicted: [Standby] = []
            while state.images.count > maxImages {
                let dropped = state.images.removeFirst()
                evicted += state.ready.removeValue(forKey: dropped.digest) ?? []
            }
            return evicted
        }
    }

    /// Whether a filler is at work (a preparation under way, or its discard).
    var isFilling: Bool {
        state.withLock { $0.filling }
    }

    /// Becomes the one filler; false when another fills already.
    func beginFilling() -> Bool {
        state.withLock { state in
            guard !state.filling, !state.closed else { return false }
            state.filling = true
            return true
        }
    }

    /// The next image short of standbys and its template; or nil, which ends the
    /// filling.
    func nextToPrepare() -> (digest: String, template: InstanceSpec)? {
        state.withLock { state in
            let next = state.closed ? nil : state.images.reversed().first { (state.ready[$0.digest]?.count ?? 0) < perImage }
            if next == nil { state.filling = false }
            return next
        }
    }

    /// Adds a prepared standby; false (the caller discards it) when its image no
    /// longer keeps standbys or the pool is closed.
    func add(_ standby: Standby) -> Bool {
        state.withLock { state in
            guard !state.closed, state.images.contains(where: { $0.digest == standby.digest }) else { return false }
            state.ready[standby.digest, default: []].append(standby)
            return true
        }
    }

    /// A preparation that failed: its image keeps no standbys until started again.
    func failed(digest: String) {
        state.withLock { state in
            state.images.removeAll { $0.digest == digest }
        }
    }

    /// Every ready standby, no longer in the pool, and no image keeps any until it
    /// is started again; with `close`, none is kept or claimed from now on.
    func drain(close: Bool) -> [Standby] {
        state.withLock { state in
            if close { state.closed = true }
            let all = state.ready.values.flatMap { $0 }
            state.ready = [:]
            state.images = []
            return all
        }
    }

    /// `preparing` counts what the images kept are short of: every such standby is
    /// being prepared or about to be (a refill waits a moment after a start).
    var status: StandbyStatus {
        state.withLock { state in
            let ready = state.ready.values.reduce(0) { $0 + $1.count }
            let short = state.images.reduce(0) { $0 + max(0, perImage - (state.ready[$1.digest]?.count ?? 0)) }
            return StandbyStatus(perImage: perImage, ready: ready, preparing: short)
        }
    }
}
