import CorralCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Publishes instance ports on the host (`-p HOST:CONTAINER`): a userspace TCP
/// proxy that accepts on `hostAddress:HOST` and forwards each connection to the
/// instance's `address:CONTAINER`, bytes copied both ways with backpressure and
/// half-close (see `ProxyGlueHandler`).
///
/// Contract:
/// - `publish` is idempotent for the same instance, port and target; a host port
///   published for something else, or bound by another socket, is a `conflict`
///   naming the port.
/// - `unpublish` closes an instance's listeners and the connections they accepted.
/// - With a `namespacePath`, every socket (listening, accepted, outgoing) lives in
///   that network namespace: the proxy's own event loop threads enter it.
/// - The publisher owns its event loop threads: call `shutdown()` when done.
public final class PortPublisher: Sendable {
    public let hostAddress: String
    private let namespacePath: String?
    private let connectTimeout: TimeAmount
    private let group: MultiThreadedEventLoopGroup
    private let logger: Logger
    private let state = Mutex(State())

    private struct Publication {
        let port: PublishedPort
        let listener: any Channel
        let connections: ConnectionTracker
    }

    private struct State {
        var active: [Int: Publication] = [:]
        /// Host ports being bound right now.
        var pending: Set<Int> = []
        var namespaceEntered = false
        var stopped = false
    }

    /// - Parameters:
    ///   - hostAddress: the IPv4 address to listen on; loopback by default.
    ///   - namespacePath: the network namespace (nsfs file) to listen and connect
    ///     in; nil for the daemon's own.
    ///   - threads: event loop threads of the proxy.
    ///   - connectTimeout: how long a connection to an instance may take to open.
    public init(
        hostAddress: String = "127.0.0.1",
        namespacePath: String? = nil,
        threads: Int = 1,
        connectTimeout: Duration = .seconds(5),
        logger: Logger = Logger(label: "corral.network.ports")
    ) {
        self.hostAddress = hostAddress
        self.namespacePath = namespacePath
        let (seconds, attoseconds) = connectTimeout.components
        self.connectTimeout = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, threads))
        self.logger = logger
    }

    /// Forwards `hostAddress:hostPort` (0: a port the kernel chooses) to `target`
    /// for `instance`, and returns the publication with the bound port.
    ///
    /// Throws `invalidArgument` for a port out of range, `conflict` when the host
    /// port is published for another instance or target or bound by another socket,
    /// `unavailable` after `shutdown`.
    public func publish(_ instance: UUID, hostPort: Int, target: PortTarget) async throws(CorralError) -> PublishedPort {
        let endpoint = "\(hostAddress):\(hostPort)"
        guard (0...65535).contains(hostPort) else {
            throw .invalidArgument("failed to publish port \(endpoint): the host port must be 0 to 65535")
        }
        guard (1...65535).contains(target.port) else {
            throw .invalidArgument("failed to publish port \(endpoint): the instance port \(target.port) must be 1 to 65535")
        }
        if state.withLock({ $0.stopped }) {
            throw .unavailable("failed to publish port \(endpoint): the port publisher has shut down")
        }
        try await enterNamespace()
        if let existing = try reserve(instance, hostPort: hostPort, target: target) { return existing }

        let listenAddress: SocketAddress
        let targetAddress: SocketAddress
        do {
            listenAddress = try SocketAddress(ipAddress: hostAddress, port: hostPort)
            targetAddress = try SocketAddress(ipAddress: target.address.description, port: target.port)
        } catch {
            unreserve(hostPort)
            throw .invalidArgument("failed to publish port \(endpoint): \(error)")
        }
        let connections = ConnectionTracker()
        let listener: any Channel
        do {
            listener = try await bind(listenAddress, forwardingTo: targetAddress, connections: connections)
        } catch {
            unreserve(hostPort)
            if let error = error as? IOError, error.errnoCode == EADDRINUSE {
                throw .conflict("failed to publish port \(endpoint): the address is already in use")
            }
            throw .init(.unavailable, "failed to publish port \(endpoint)", cause: error)
        }
        let boundPort = listener.localAddress?.port ?? hostPort
        let published = PublishedPort(instance: instance, hostAddress: hostAddress, hostPort: boundPort, target: target)
        let accepted = state.withLock { state in
            state.pending.remove(hostPort)
            if state.stopped { return false }
            state.active[boundPort] = Publication(port: published, listener: listener, connections: connections)
            return true
        }
        guard accepted else {
            listener.close(promise: nil)
            throw .unavailable("failed to publish port \(endpoint): the port publisher has shut down")
        }
        logger.debug("published \(published) for instance \(instance)")
        return published
    }

    /// Closes every listener of `instance` and the connections they accepted. A no-op
    /// when it publishes nothing.
    public func unpublish(_ instance: UUID) async {
        let removed = state.withLock { state in
            let ports = state.active.filter { $0.value.port.instance == instance }
            for port in ports.keys { state.active[port] = nil }
            return Array(ports.values)
        }
        await close(removed)
    }

    /// The ports published now, by host port.
    public func publications() -> [PublishedPort] {
        state.withLock { $0.active.values.map(\.port) }.sorted { $0.hostPort < $1.hostPort }
    }

    /// Closes every listener and connection and stops the event loops; later calls
    /// throw `unavailable`. Idempotent.
    public func shutdown() async {
        let removed = state.withLock { state in
            state.stopped = true
            let all = Array(state.active.values)
            state.active = [:]
            return all
        }
        await close(removed)
        try? await group.shutdownGracefully()
    }

    private func close(_ publications: [Publication]) async {
        for publication in publications {
            try? await publication.listener.close()
            publication.connections.closeAll()
            logger.debug("unpublished \(publication.port)")
        }
    }

    /// Claims `hostPort`, or returns the identical publication that already holds it.
    private func reserve(_ instance: UUID, hostPort: Int, target: PortTarget) throws(CorralError) -> PublishedPort? {
        let endpoint = "\(hostAddress):\(hostPort)"
        return try state.withLock { state throws(CorralError) -> PublishedPort? in
            if state.stopped { throw .unavailable("failed to publish port \(endpoint): the port publisher has shut down") }
            guard hostPort != 0 else { return nil }
            if let existing = state.active[hostPort] {
                if existing.port.instance == instance, existing.port.target == target { return existing.port }
                throw .conflict("failed to publish port \(endpoint): it is already published for instance \(existing.port.instance)")
            }
            guard state.pending.insert(hostPort).inserted else {
                throw .conflict("failed to publish port \(endpoint): it is being published by another request")
            }
            return nil
        }
    }

    private func unreserve(_ hostPort: Int) {
        _ = state.withLock { $0.pending.remove(hostPort) }
    }

    /// Moves every event loop thread into `namespacePath`, once, before any socket exists.
    private func enterNamespace() async throws(CorralError) {
        guard let namespacePath, !state.withLock({ $0.namespaceEntered }) else { return }
        do {
            for loop in group.makeIterator() {
                try await loop.submit {
                    try LinuxNamespace.enterNetworkNamespace(at: namespacePath)
                }.get()
            }
        } catch {
            throw CorralError.wrap(error, "failed to enter network namespace \(namespacePath)")
        }
        state.withLock { $0.namespaceEntered = true }
    }

    /// Binds on an event loop thread: NIO creates a socket on the thread that asks
    /// for it, and that thread is in the publisher's namespace.
    private func bind(
        _ address: SocketAddress,
        forwardingTo target: SocketAddress,
        connections: ConnectionTracker
    ) async throws -> any Channel {
        let loop = group.next()
        let group = self.group
        let connectTimeout = self.connectTimeout
        let logger = self.logger
        return try await loop.flatSubmit {
            ServerBootstrap(group: loop, childGroup: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { inbound in
                    Self.connect(inbound, to: target, timeout: connectTimeout, connections: connections, logger: logger)
                }
                .bind(to: address)
        }.get()
    }

    /// Opens the connection to the instance for an accepted connection and glues the
    /// two together; the accepted connection is closed if that fails.
    private static func connect(
        _ inbound: any Channel,
        to target: SocketAddress,
        timeout: TimeAmount,
        connections: ConnectionTracker,
        logger: Logger
    ) -> EventLoopFuture<Void> {
        guard connections.add(inbound) else {
            return inbound.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }
        inbound.closeFuture.whenComplete { _ in connections.remove(inbound) }
        return ClientBootstrap(group: inbound.eventLoop)
            .connectTimeout(timeout)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { outbound in
                outbound.eventLoop.makeCompletedFuture {
                    let (towardsInstance, towardsClient) = ProxyGlueHandler.matchedPair()
                    try inbound.pipeline.syncOperations.addHandler(towardsInstance)
                    try outbound.pipeline.syncOperations.addHandler(towardsClient)
                }
            }
            .connect(to: target)
            .map { _ in }
            .flatMapErrorThrowing { error in
                logger.debug("failed to connect to \(target) for a published port: \(error)")
                throw error
            }
    }
}

/// The open connections of one publication, so that unpublishing closes them.
final class ConnectionTracker: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var closed = false
    }

    private let state = Mutex(State())

    /// Tracks `channel`; false (and not tracked) once `closeAll` has run.
    func add(_ channel: any Channel) -> Bool {
        state.withLock { state in
            if state.closed { return false }
            state.channels[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    func remove(_ channel: any Channel) {
        _ = state.withLock { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Closes every tracked channel; later `add` calls fail.
    func closeAll() {
        let channels = state.withLock { state in
            state.closed = true
            let all = Array(state.channels.values)
            state.channels = [:]
            return all
        }
        for channel in channels { channel.close(promise: nil) }
    }
}
