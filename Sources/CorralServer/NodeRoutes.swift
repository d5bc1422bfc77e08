import CorralAPI
import CorralCore
import CorralEngine
import Foundation
import Hummingbird
import Prometheus

/// Health, drivers and metrics of the daemon itself.
struct NodeRoutes: Sendable {
    let engine: InstanceEngine
    let version: String
    let registry: PrometheusCollectorRegistry

    func register(on router: Router<BasicRequestContext>) {
        router.get("v1/healthz") { _, _ in await healthz() }
        router.get("v1/drivers") { _, _ in await drivers() }
        router.get("metrics") { _, _ in metrics() }
    }

    private func healthz() async -> Response {
        let started = ContinuousClock.now
        var checks: [String: HealthzDTO.HealthState] = ["api": .healthy]
        for info in await engine.driverInfos() {
            checks["driver.\(info.name)"] = info.probe.available ? .healthy : .degraded
        }
        let data = HealthzDTO(checks: checks, versions: ["corrald": version])
        return APIResponse.success(data, started: started)
    }

    private func drivers() async -> Response {
        let started = ContinuousClock.now
        let infos = await engine.driverInfos().map { info in
            DriverInfoDTO(
                name: info.name,
                available: info.probe.available,
                notes: info.probe.notes,
                capabilities: info.capabilities.names,
                default: info.isDefault,
                standby: info.standby.map { StandbyDTO(perImage: $0.perImage, ready: $0.ready, preparing: $0.preparing) }
            )
        }
        return APIResponse.success(DriversData(drivers: infos), started: started)
    }

    private func metrics() -> Response {
        var counts: [InstanceState: Int] = [:]
        for record in engine.list() { counts[record.state, default: 0] += 1 }
        for state in InstanceState.allCases {
            registry.makeGauge(
                descriptor: MetricNameDescriptor(namespace: "corral", metricName: "instances", unitName: "", helpText: "Instances by state."),
                labels: [("state", state.rawValue)]
            ).set(Double(counts[state] ?? 0))
        }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(bytes: buffer))
        )
    }
}
