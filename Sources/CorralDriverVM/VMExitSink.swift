import CorralCore
import CorralHost
import CorralShimFormat
import Foundation

/// Sits between the shim supervisor and the driver's sink: a VM's exit status is
/// its workload's, as the guest agent reported it and the driver recorded it in
/// `workload-exit`, not QEMU's. Without such a record of the same run (QEMU was
/// killed, or the agent never reported) QEMU's own status goes through unchanged.
struct VMExitSink: DriverEventSink {
    let stateDirectory: String
    let channels: VMChannelTable
    let next: any DriverEventSink

    func instanceExited(_ uuid: UUID, status: ExitStatus) {
        channels.remove(uuid)
        if channels.isSilenced(uuid) { return }
        let paths = VMPaths(InstancePaths(stateDirectory: stateDirectory, uuid: uuid))
        next.instanceExited(uuid, status: Self.workloadStatus(paths: paths, qemu: status) ?? status)
    }

    /// The recorded workload exit of the run whose state record is in `paths`.
    static func workloadStatus(paths: VMPaths, qemu: ExitStatus) -> ExitStatus? {
        guard let stateBytes = try? RawFile.read(paths.instance.state), let state = try? StateRecord.parse(stateBytes),
              let bytes = try? RawFile.read(paths.workloadExit), let record = try? ExitRecord.parse(bytes),
              record.shimPID == state.shimPID, record.shimStartTime == state.shimStartTime
        else { return nil }
        var status = record.status
        status.oomKilled = qemu.oomKilled
        return status
    }
}
