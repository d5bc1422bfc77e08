import CorralCore
import Foundation
import Testing

@Suite struct ImageRuntimeConfigCodingTests {
    @Test func configWithoutLabelsStillDecodes() throws {
        let json = #"{"entrypoint":["/e"],"cmd":["c"],"env":["A=1"],"user":"app","exposedPorts":["80/tcp"]}"#
        let config = try JSONDecoder().decode(ImageRuntimeConfig.self, from: Data(json.utf8))
        #expect(config == ImageRuntimeConfig(entrypoint: ["/e"], cmd: ["c"], env: ["A=1"], user: "app", exposedPorts: ["80/tcp"]))
        #expect(config.labels.isEmpty)
    }

    @Test func labelsRoundTrip() throws {
        let config = ImageRuntimeConfig(cmd: ["sh"], labels: ["org.corral.vm.kernel": "/boot/vmlinuz"])
        let decoded = try JSONDecoder().decode(ImageRuntimeConfig.self, from: JSONEncoder().encode(config))
        #expect(decoded == config)
    }
}
