import CorralCore
import CorralHost
import CorralShimFormat
import CorralTestSupport
import Foundation
import Testing

@testable import CorralDriverVM

struct VMExitAndWorkloadTests {
    @Test func theRecordedWorkloadExitOfTheSameRunReplacesQEMUsStatus() async throws {
        try await ScratchDirectory.run { scratch in
            let uuid = UUID()
            let paths = VMPaths(InstancePaths(stateDirectory: scratch.path, uuid: uuid))
            try FileManager.default.createDirectory(atPath: paths.directory, withIntermediateDirectories: true)
            let qemu = CorralCore.ExitStatus(code: 0, oomKilled: true, at: Date())
            #expect(VMExitSink.workloadStatus(paths: paths, qemu: qemu) == nil, "no record: QEMU's own status")

            try RawFile.writeAtomically(paths.instance.state, StateRecord(
                shimPID: 100, shimStartTime: 5, workloadPID: 101, workloadStartTime: 6
            ).encode(), durable: false, mode: 0o600)
            func record(shim: Int32, _ termination: ExitRecord.Termination) throws {
                try RawFile.writeAtomically(paths.workloadExit, ExitRecord(
                    shimPID: shim, shimStartTime: 5, workloadPID: 101, termination: termination, oomKilled: false,
                    timeNanoseconds: 1_000_000_000
                ).encode(), durable: false, mode: 0o600)
            }
            try record(shim: 100, .exited(code: 7))
            let status = try #require(VMExitSink.workloadStatus(paths: paths, qemu: qemu))
            #expect(status.code == 7 && status.signal == nil && status.oomKilled, "QEMU's OOM kill is kept")
            try record(shim: 100, .signaled(signal: 15))
            #expect(VMExitSink.workloadStatus(paths: paths, qemu: qemu)?.signal == 15)
            try record(shim: 99, .exited(code: 7))
            #expect(VMExitSink.workloadStatus(paths: paths, qemu: qemu) == nil, "a record of another run is ignored")

            let sink = CollectingSink()
            let channels = VMChannelTable()
            let exits = VMExitSink(stateDirectory: scratch.path, channels: channels, next: sink)
            try record(shim: 100, .exited(code: 3))
            exits.instanceExited(uuid, status: qemu)
            #expect(sink.reported(uuid).map(\.code) == [3])
            channels.silence(uuid, true)
            exits.instanceExited(uuid, status: qemu)
            #expect(sink.reported(uuid).count == 1, "a failed start's QEMU exit is not reported")
        }
    }

    @Test func theWorkloadIsTheImagesEntrypointWithArgsOrCmdAndMergedEnvironment() throws {
        let image = ImageRuntimeConfig(
            entrypoint: ["/entry"], cmd: ["default"], env: ["A=image", "B=image", "PATH=/image/bin"], workingDir: "/srv"
        )
        let user = ImageUser(uid: 1000, gid: 1000, additionalGids: [2000], home: "/home/app")
        var spec = InstanceSpec(driver: "vm", image: BusyboxImages.reference, args: [], env: ["B": "spec", "C": "spec"], memoryMB: 128, vcpus: 1)
        let workload = try VMWorkload.spec(image: image, spec: spec, user: user, hostname: "box")
        #expect(workload.argv == ["/entry", "default"])
        #expect(workload.environment == ["A=image", "B=spec", "PATH=/image/bin", "C=spec", "HOSTNAME=box", "HOME=/home/app"])
        #expect(workload.workingDirectory == "/srv")
        spec.args = ["mine"]
        #expect(try VMWorkload.spec(image: image, spec: spec, user: user, hostname: "box").argv == ["/entry", "mine"])
        #expect(throws: CorralError.self) {
            try VMWorkload.spec(image: ImageRuntimeConfig(), spec: InstanceSpec(driver: "vm", args: [], memoryMB: 128, vcpus: 1), user: .root, hostname: "x")
        }
    }

    @Test func theCgroupLeavesQEMURoomBeyondTheGuestsMemory() {
        #expect(VMDriver.cgroupMemoryBytes(guestMB: 128) == Int64(128 + 256 + 32) << 20)
        #expect(VMDriver.cgroupMemoryBytes(guestMB: 16_384) == Int64(16_384 + 256 + 1024) << 20)
    }
}
