import CorralCore
import Foundation

/// A scriptable `InstanceDriver` for engine logic a real driver cannot provoke on
/// demand: starts that fail N times or hang, workloads that exit at once or ignore
/// SIGTERM, adoption results after a restart.
///
/// It records every call with its begin and end time, and notes as an overlap any
/// call for an instance that begins while another call for the same instance is in
/// flight: that is how "one instance is never reconciled twice at once" is proven.
actor FakeDriver: InstanceDriver {
    enum StartStep: Sendable, Equatable {
        case succeed
        case fail(String)
        /// Waits until `releaseStarts` and then succeeds, or fails with the message.
        case hang(thenFail: String?)

        static let hang = StartStep.hang(thenFail: nil)
    }

    enum TerminateBehavior: Sendable {
        /// The workload exits on SIGTERM with this status.
        case exit(ExitStatus)
        /// The workload ignores SIGTERM.
        case ignore
    }

    enum CallKind: String, Sendable, CustomStringConvertible {
        case start, terminate, kill, adopt, cleanup, destroy, freeze, thaw
        var description: String { rawValue }
    }

    struct Call: Sendable {
        var kind: CallKind
        var uuid: UUID
        var began: ContinuousClock.Instant
        var ended: ContinuousClock.Instant?
    }

    struct Overlap: Sendable, CustomStringConvertible {
        var uuid: UUID
        var inFlight: CallKind
        var began: CallKind
        var description: String { "\(began) began on \(uuid) while \(inFlight) was in flight" }
    }

    nonisolated let name: String
    nonisolated let capabilities: DriverCapabilities
    private var sink: any DriverEventSink

    private(set) var calls: [Call] = []
    private(set) var overlaps: [Overlap] = []
    /// Broken driver contracts seen by the fake: a second live workload, a destroy of
    /// a live one.
    private(set) var violations: [String] = []
    private var inFlight: [UUID: [Int]] = [:]
    /// The most instances that had a call in flight at the same moment.
    private(set) var maxInstancesInFlight = 0

    private var callDelay: Duration = .zero
    private var defaultStart: StartStep = .succeed
    private var startScripts: [String: [StartStep]] = [:]
    private var exitAfterStart: [String: ExitStatus] = [:]
    private var terminateBehavior: [String: TerminateBehavior] = [:]
    private var adoptResults: [UUID: AdoptionResult] = [:]
    private var hanging: [(name: String, continuation: CheckedContinuation<Void, Never>)] = []
    private var live: [UUID: DriverHandle] = [:]
    private var namesByUUID: [UUID: String] = [:]
    private var logs: [UUID: [UInt8]] = [:]
    private var nextPID: Int32 = 1000

    static let bootTimeMicroseconds: Int64 = 1234

    private let available: Bool

    init(name: String = "fake", capabilities: DriverCapabilities = [], available: Bool = true, sink: any DriverEventSink) {
        self.name = name
        self.capabilities = capabilities
        self.available = available
        self.sink = sink
    }

    // MARK: - Scripting

    /// Where exits are reported from now on (a restarted daemon has a new stream).
    func setSink(_ sink: any DriverEventSink) { self.sink = sink }

    /// How long every driver call takes, to widen the window for overlaps.
    func setCallDelay(_ delay: Duration) { callDelay = delay }

    /// What a start does when the instance has no script left.
    func setDefaultStart(_ step: StartStep) { defaultStart = step }

    /// The next starts of the instance named `name` follow `steps`, in order.
    func script(_ name: String, _ steps: [StartStep]) {
        startScripts[name, default: []].append(contentsOf: steps)
    }

    /// The workload exits with `status` as soon as it has started; nil: it keeps running.
    func setExitAfterStart(_ name: String, _ status: ExitStatus?) {
        exitAfterStart[name] = status
    }

    func setTerminate(_ name: String, _ behavior: TerminateBehavior) {
        terminateBehavior[name] = behavior
    }

    func setAdoptResult(_ uuid: UUID, _ result: AdoptionResult) {
        adoptResults[uuid] = result
    }

    func setLog(_ uuid: UUID, _ text: String) {
        logs[uuid] = Array(text.utf8)
    }

    /// Lets hanging starts go on; only those of `name` when given.
    func releaseStarts(_ name: String? = nil) {
        let released = hanging.filter { name == nil || $0.name == name }
        hanging.removeAll { name == nil || $0.name == name }
        for item in released { item.continuation.resume() }
    }

    /// The workload dies on its own and its exit is reported. False if none was live.
    @discardableResult
    func crash(_ uuid: UUID, status: ExitStatus = ExitStatus(code: 1, at: Date())) -> Bool {
        guard live.removeValue(forKey: uuid) != nil else { return false }
        sink.instanceExited(uuid, status: status)
        return true
    }

    /// Marks a workload live, as if started by an earlier daemon.
    func setLive(_ uuid: UUID, _ handle: DriverHandle) {
        live[uuid] = handle
    }

    // MARK: - Inspection

    func kinds(_ uuid: UUID) -> [CallKind] {
        calls.filter { $0.uuid == uuid }.map(\.kind)
    }

    func count(_ kind: CallKind, _ uuid: UUID) -> Int {
        calls.filter { $0.uuid == uuid && $0.kind == kind }.count
    }

    func startCount(named name: String) -> Int {
        calls.filter { $0.kind == .start && namesByUUID[$0.uuid] == name }.count
    }

    func hangingCount(_ name: String? = nil) -> Int {
        hanging.filter { name == nil || $0.name == name }.count
    }

    func liveHandle(_ uuid: UUID) -> DriverHandle? { live[uuid] }

    var callsInFlight: Int { inFlight.values.reduce(0) { $0 + $1.count } }

    // MARK: - InstanceDriver

    func probe() async -> DriverProbe {
        available
            ? DriverProbe(available: true, notes: ["fake driver for engine tests"])
            : DriverProbe(available: false, notes: ["no such hypervisor here"])
    }

    nonisolated func validate(_ spec: InstanceSpec) throws(CorralError) {
        if spec.args.first == "reject" {
            throw .invalidArgument("invalid args: the fake driver rejects 'reject'")
        }
    }

    func start(_ request: StartRequest) async throws(CorralError) -> StartedInstance {
        namesByUUID[request.uuid] = request.name
        let call = begin(.start, request.uuid)
        defer { end(call) }
        await pause()
        var step = defaultStart
        if var steps = startScripts[request.name], !steps.isEmpty {
            step = steps.removeFirst()
            startScripts[request.name] = steps
        }
        switch step {
        case .succeed:
            break
        case .fail(let message):
            throw CorralError.internal(message)
        case .hang(let failure):
            await withCheckedContinuation { hanging.append((request.name, $0)) }
            if let failure { throw CorralError.internal(failure) }
        }
        if live[request.uuid] != nil {
            violations.append("start of \(request.name) while a workload was live")
        }
        nextPID += 2
        let handle = DriverHandle(
            shimPID: nextPID, shimStartTime: UInt64(nextPID),
            workloadPID: nextPID + 1, workloadStartTime: UInt64(nextPID + 1)
        )
        live[request.uuid] = handle
        if let status = exitAfterStart[request.name] {
            live[request.uuid] = nil
            sink.instanceExited(request.uuid, status: status)
        }
        return StartedInstance(handle: handle, bootTimeMicroseconds: Self.bootTimeMicroseconds)
    }

    func terminate(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        let call = begin(.terminate, uuid)
        defer { end(call) }
        await pause()
        guard live[uuid] != nil else { return }
        let behavior = namesByUUID[uuid].flatMap { terminateBehavior[$0] } ?? .exit(ExitStatus(code: 0, at: Date()))
        if case .exit(let status) = behavior {
            live[uuid] = nil
            sink.instanceExited(uuid, status: status)
        }
    }

    func kill(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        let call = begin(.kill, uuid)
        defer { end(call) }
        await pause()
        guard live.removeValue(forKey: uuid) != nil else { return }
        sink.instanceExited(uuid, status: ExitStatus(signal: 9, at: Date()))
    }

    func adopt(_ uuid: UUID, handle: DriverHandle) async -> AdoptionResult {
        let call = begin(.adopt, uuid)
        defer { end(call) }
        await pause()
        let result = adoptResults[uuid] ?? .running(handle)
        if case .running(let adopted) = result { live[uuid] = adopted } else { live[uuid] = nil }
        return result
    }

    func cleanup(_ uuid: UUID) async throws(CorralError) {
        let call = begin(.cleanup, uuid)
        defer { end(call) }
        await pause()
    }

    func destroy(_ uuid: UUID) async throws(CorralError) {
        let call = begin(.destroy, uuid)
        defer { end(call) }
        await pause()
        if live[uuid] != nil { violations.append("destroy of \(uuid) while its workload was live") }
        logs[uuid] = nil
    }

    func readLog(_ uuid: UUID, offset: Int64?, limit: Int) async throws(CorralError) -> LogChunk {
        let bytes = logs[uuid] ?? []
        let start = Int(max(0, min(offset ?? 0, Int64(bytes.count))))
        let slice = Array(bytes[start..<min(bytes.count, start + limit)])
        return LogChunk(bytes: slice, availableStart: 0, availableEnd: Int64(bytes.count), rangeStart: Int64(start))
    }

    func freeze(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        let call = begin(.freeze, uuid)
        defer { end(call) }
        await pause()
    }

    func thaw(_ uuid: UUID, handle: DriverHandle) async throws(CorralError) {
        let call = begin(.thaw, uuid)
        defer { end(call) }
        await pause()
    }

    // MARK: - Bookkeeping

    private func begin(_ kind: CallKind, _ uuid: UUID) -> Int {
        if let current = inFlight[uuid]?.first {
            overlaps.append(Overlap(uuid: uuid, inFlight: calls[current].kind, began: kind))
        }
        calls.append(Call(kind: kind, uuid: uuid, began: .now))
        let index = calls.count - 1
        inFlight[uuid, default: []].append(index)
        maxInstancesInFlight = max(maxInstancesInFlight, inFlight.count)
        return index
    }

    private func end(_ index: Int) {
        calls[index].ended = .now
        let uuid = calls[index].uuid
        inFlight[uuid]?.removeAll { $0 == index }
        if inFlight[uuid]?.isEmpty == true { inFlight[uuid] = nil }
    }

    private func pause() async {
        guard callDelay > .zero else { return }
        try? await Task.sleep(for: callDelay)
    }
}
