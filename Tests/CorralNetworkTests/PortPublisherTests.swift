import CorralCore
import Foundation
import Testing

@testable import CorralNetwork

/// Published ports, driven byte by byte, inside a network namespace the test creates.
@Suite(.serialized, .enabled(if: NetworkTestEnvironment.available, "needs root, ip, nft and busybox"))
struct PortPublisherTests {
    @Test func bulkTransferWithHalfCloseArrivesIntact() async throws {
        try await NetworkTestBed.run { bed in
            let network = try bed.network()
            defer { network.shutdown() }
            let instance = UUID()
            bed.track(instance)
            let attachment = try await network.attach(instance)
            let namespace = InstanceNetworkNames(instance).namespaceName
            // An echo server that closes only after reading end of file: the reply
            // ends only if the proxy passes the client's half-close on.
            try bed.startInNamespace(namespace, ["busybox", "nc", "-ll", "-p", "9000", "-e", "cat"])
            try bed.startInNamespace(namespace, ["busybox", "nc", "-ll", "-p", "9001", "-e", "true"])

            let publisher = PortPublisher(namespacePath: bed.path)
            let echo = try await publisher.publish(instance, hostPort: 0, target: PortTarget(address: attachment.ip, port: 9000))
            #expect(echo.hostPort != 0, "port 0 binds a port the kernel chooses")
            let closer = try await publisher.publish(instance, hostPort: 0, target: PortTarget(address: attachment.ip, port: 9001))

            var payload = [UInt8](repeating: 0, count: 4 << 20)
            for index in payload.indices { payload[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 11) }
            let exchange = try await retrying {
                let result = try await LoopbackClient.exchange(namespacePath: bed.path, port: echo.hostPort, payload: payload)
                guard !result.received.isEmpty else { throw CorralError.unavailable("echo server not ready") }
                return result
            }
            // Compared into plain values first: a failed expectation would print 4 MiB.
            let ended = exchange.sawEndOfFile
            let receivedCount = exchange.received.count
            let intact = exchange.received == payload
            #expect(ended, "the echo server saw the client's half-close and closed")
            #expect(receivedCount == payload.count)
            #expect(intact, "4 MiB echoed back intact through the proxy")

            // The instance closing its side closes the client's connection.
            let closed = try await LoopbackClient.exchange(
                namespacePath: bed.path, port: closer.hostPort, payload: [], halfClose: false, timeout: .seconds(10)
            )
            #expect(closed.sawEndOfFile && closed.received.isEmpty)

            // Unpublishing closes connections that are open at the time.
            let interrupted = try await LoopbackClient.exchange(
                namespacePath: bed.path, port: echo.hostPort, payload: Array("still here".utf8), halfClose: false,
                afterConnect: {
                    try? await Task.sleep(for: .milliseconds(200))
                    await publisher.unpublish(instance)
                },
                timeout: .seconds(10)
            )
            #expect(interrupted.sawEndOfFile, "the open connection was closed by unpublish")
            #expect(publisher.publications().isEmpty)

            await publisher.shutdown()
            await #expect {
                try await publisher.publish(instance, hostPort: 0, target: PortTarget(address: attachment.ip, port: 9000))
            } throws: { error in
                (error as? CorralError)?.code == .unavailable
            }
            try await network.detach(instance)
            try await network.teardown()
        }
    }

    @Test func aTargetThatRefusesClosesTheClientConnection() async throws {
        try await NetworkTestBed.run { bed in
            let publisher = PortPublisher(namespacePath: bed.path)
            let nobody = try #require(IPv4Address("127.0.0.1"))
            let published = try await publisher.publish(UUID(), hostPort: 0, target: PortTarget(address: nobody, port: 1))
            let exchange = try await LoopbackClient.exchange(
                namespacePath: bed.path, port: published.hostPort, payload: Array("hello".utf8), timeout: .seconds(10)
            )
            #expect(exchange.sawEndOfFile && exchange.received.isEmpty)
            await #expect {
                try await publisher.publish(UUID(), hostPort: 70_000, target: PortTarget(address: nobody, port: 1))
            } throws: { error in
                (error as? CorralError)?.code == .invalidArgument
            }
            await publisher.shutdown()
        }
    }

    /// Runs `body` until it succeeds, at most 50 times 100 ms apart.
    private func retrying<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        var lastError: (any Error)?
        for _ in 0..<50 {
            do {
                return try await body()
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw lastError ?? CorralError.internal("no attempt made")
    }
}
