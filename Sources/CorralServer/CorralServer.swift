import CorralAPI
import CorralCore
import CorralEngine
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// The HTTP front of corrald: the Unikraft Cloud v1 API and Corral's extensions,
/// on a unix socket (always) and on TCP with bearer-token auth (when asked).
public struct CorralServer: Sendable {
    public struct Configuration: Sendable {
        public var socketPath: String
        /// `host:port` to listen on over TCP; nil for the unix socket only.
        public var tcpHost: String?
        public var tcpPort: Int?
        /// Required on TCP.
        public var token: String?
        public var version: String

        public init(socketPath: String, tcpHost: String? = nil, tcpPort: Int? = nil, token: String? = nil, version: String) {
            self.socketPath = socketPath
            self.tcpHost = tcpHost
            self.tcpPort = tcpPort
            self.token = token
            self.version = version
        }
    }

    let configuration: Configuration
    let engine: InstanceEngine
    let limits: InstanceLimits
    let defaultDriver: String
    let images: (any ImageStoreService)?
    let registry: PrometheusCollectorRegistry
    let logger: Logger

    public init(
        configuration: Configuration,
        engine: InstanceEngine,
        limits: InstanceLimits,
        defaultDriver: String,
        images: (any ImageStoreService)? = nil,
        registry: PrometheusCollectorRegistry,
        logger: Logger
    ) {
        self.images = images
        self.configuration = configuration
        self.engine = engine
        self.limits = limits
        self.defaultDriver = defaultDriver
        self.registry = registry
        self.logger = logger
    }

    /// The listeners to run in the daemon's service group.
    public func services() throws(CorralError) -> [any Service] {
        var services: [any Service] = []
        // The store's lock guarantees no other daemon owns this state directory, so a
        // socket file left by a crashed one is stale.
        unlink(configuration.socketPath)
        let socketPath = configuration.socketPath
        let logger = self.logger
        services.append(Application(
            router: makeRouter(token: nil),
            configuration: .init(address: .unixDomainSocket(path: socketPath), serverName: "corrald"),
            onServerRunning: { _ in
                if chmod(socketPath, 0o660) != 0 {
                    logger.error("failed to set the mode of the API socket", metadata: ["path": "\(socketPath)"])
                }
            },
            logger: logger
        ))
        if let host = configuration.tcpHost, let port = configuration.tcpPort {
            guard let token = configuration.token, !token.isEmpty else {
                throw .invalidArgument("invalid --listen: TCP needs a token (CORRAL_TOKEN or --token-file)")
            }
            services.append(Application(
                router: makeRouter(token: token),
                configuration: .init(address: .hostname(host, port: port), serverName: "corrald"),
                logger: logger
            ))
        }
        return services
    }

    func makeRouter(token: String?) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: EnvelopeErrorMiddleware())
        router.add(middleware: MetricsMiddleware())
        if let token { router.add(middleware: BearerTokenMiddleware(token: token)) }
        InstanceRoutes(engine: engine, limits: limits, defaultDriver: defaultDriver).register(on: router)
        NodeRoutes(engine: engine, version: configuration.version, registry: registry).register(on: router)
        ImageRoutes(images: images, engine: engine).register(on: router)
        ExecRoutes(engine: engine).register(on: router)
        return router
    }
}
