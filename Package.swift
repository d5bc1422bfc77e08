// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "corral",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "corrald", targets: ["corrald"]),
        .executable(name: "corral", targets: ["corral"]),
        .executable(name: "corral-shim", targets: ["corral-shim"]),
        .executable(name: "corral-agent", targets: ["corral-agent"]),
        .library(name: "CorralClient", targets: ["CorralClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // Pure domain: specs, records, the transition machine, validation, errors, ports.
        .target(name: "CorralCore", swiftSettings: strict),
        // fork/exec with work between the two (cgroup join, setsid, dup2) that
        // posix_spawn cannot do and Swift cannot do after fork.
        .target(name: "CCorralSpawn"),
        // rtnetlink requests for an instance's namespace and veth, in-process.
        .target(name: "CCorralNetlink"),
        // The on-disk contract between corral-shim and the drivers; Foundation-free
        // so the shim starts fast.
        .target(name: "CorralShimFormat", swiftSettings: strict),
        .target(
            name: "CorralHost",
            dependencies: [
                "CorralCore", "CCorralSpawn", "CorralShimFormat", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "CorralStore",
            dependencies: ["CorralCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict
        ),
        .target(
            name: "CorralEngine",
            dependencies: [
                "CorralCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "CorralDriverProcess",
            dependencies: ["CorralCore", "CorralHost", "CorralShimFormat", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Content-addressed OCI image store: pull (skopeo), import, unpack (umoci), GC.
        .target(
            name: "CorralImages",
            dependencies: ["CorralCore", "CorralHost", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Bridge, IPAM, network namespaces and veths, NAT, published ports.
        .target(
            name: "CorralNetwork",
            dependencies: [
                "CorralCore", "CorralHost", "CCorralNetlink",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "CorralDriverContainer",
            dependencies: [
                "CorralCore", "CorralHost", "CorralShimFormat",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // What a microVM boots from: the kernel, the initramfs carrying corral-agent,
        // an ext4 base disk per image digest and a qcow2 overlay per instance.
        .target(
            name: "CorralVMAssets",
            dependencies: ["CorralCore", "CorralHost", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // The `vm` driver: QEMU microvm under corral-shim, QMP, the host side of the agent.
        .target(
            name: "CorralDriverVM",
            dependencies: [
                "CorralCore", "CorralHost", "CorralShimFormat", "CorralVMAssets", "CorralAgentProtocol",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(name: "CorralAPI", swiftSettings: strict),
        // The framed host <-> guest agent protocol of the vm driver; Foundation-free,
        // shared by corral-agent and the driver.
        .target(name: "CorralAgentProtocol", swiftSettings: strict),
        .target(
            name: "CorralServer",
            dependencies: [
                "CorralAPI", "CorralCore", "CorralEngine",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "CorralClient",
            dependencies: ["CorralAPI", .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: strict
        ),
        .target(
            name: "CorralCommands",
            dependencies: [
                "CorralAPI", "CorralClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "corrald",
            dependencies: [
                "CorralCore", "CorralEngine", "CorralStore", "CorralHost", "CorralServer",
                "CorralDriverProcess", "CorralDriverContainer", "CorralDriverVM", "CorralImages", "CorralNetwork",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "corral", dependencies: ["CorralCommands"], swiftSettings: strict),
        // Started once per instance start, so its start-up is on the critical path:
        // linked fully statically it starts in about 0.3 ms (2.5 ms dynamically),
        // which brings create+start to within 3 ms of a bare fork+exec. The linker's
        // one warning is glibc's note on libswiftCore's optional dlopen of a
        // prespecialization library, which the shim does not use.
        .executableTarget(
            name: "corral-shim",
            dependencies: ["CCorralSpawn", "CorralShimFormat"],
            swiftSettings: strict,
            linkerSettings: [.unsafeFlags(["-static-executable"])]
        ),
        // The first process of a standby container (C, static, libc only): it
        // runs inside any image's root until the workload is known, then execs it.
        .executableTarget(
            name: "corral-standby",
            linkerSettings: [.unsafeFlags(["-static-executable"])]
        ),
        // PID 1 inside microVMs: one static file in the initramfs.
        .executableTarget(
            name: "corral-agent",
            dependencies: ["CorralAgentProtocol", "CCorralSpawn"],
            swiftSettings: strict,
            // Stripped in release builds: every initramfs carries it (7 MB instead of 11).
            linkerSettings: [
                .unsafeFlags(["-static-executable"]),
                .unsafeFlags(["-Xlinker", "-s"], .when(configuration: .release)),
            ]
        ),
        // What several driver test suites share (the exit sink), in one place.
        .target(name: "CorralTestSupport", dependencies: ["CorralCore"], path: "Tests/CorralTestSupport"),
        .testTarget(name: "CorralCoreTests", dependencies: ["CorralCore"]),
        .testTarget(
            name: "CorralEngineTests",
            dependencies: [
                "CorralEngine", "CorralCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "CorralStoreTests",
            dependencies: ["CorralStore", "CorralCore", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "CorralDriverProcessTests",
            dependencies: ["CorralTestSupport", "CorralDriverProcess", "CorralHost", "CorralCore"]
        ),
        .testTarget(name: "CorralAPITests", dependencies: ["CorralAPI"]),
        .testTarget(name: "CorralAgentProtocolTests", dependencies: ["CorralAgentProtocol"]),
        .testTarget(name: "CorralImagesTests", dependencies: ["CorralImages", "CorralCore", "CorralHost", "CorralStore"]),
        .testTarget(name: "CorralNetworkTests", dependencies: ["CorralNetwork", "CorralCore", "CorralHost", "CorralStore"]),
        .testTarget(
            name: "CorralDriverContainerTests",
            dependencies: ["CorralTestSupport", "CorralDriverContainer", "CorralHost", "CorralCore"]
        ),
        .testTarget(name: "CorralVMAssetsTests", dependencies: ["CorralVMAssets", "CorralCore", "CorralHost"]),
        .testTarget(
            name: "CorralDriverVMTests",
            dependencies: ["CorralTestSupport", "CorralDriverVM", "CorralVMAssets", "CorralAgentProtocol", "CorralHost", "CorralCore"]
        ),
    ]
)
