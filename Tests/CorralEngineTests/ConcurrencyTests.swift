import CorralCore
import CorralEngine
import Foundation
import Testing

@Suite("serialized work per instance")
struct ConcurrencyTests {
    @Test("200 concurrent starts, stops and exits on one instance never overlap, and the last request wins")
    func hammerOneInstance() async throws {
        try await withEngine(workers: 8) { h in
            // Every driver call takes a while, so a second worker on the same instance
            // would be caught in the act.
            await h.driver.setCallDelay(.milliseconds(1))
            let created = try await h.engine.create([.named("hammered")])
            let uuid = try #require(created.first?.uuid)
            _ = try await h.engine.wait("hammered", for: .running, timeout: .seconds(10))

            // Ten clients, twenty requests each, each sent as soon as the previous one
            // is accepted: requests keep arriving while driver calls are in flight.
            let engine = h.engine
            let driver = h.driver
            let accepted = await withTaskGroup(of: Int.self) { group in
                for client in 0..<10 {
                    group.addTask {
                        var accepted = 0
                        for request in 0..<20 {
                            try? await Task.sleep(for: .microseconds(Int.random(in: 0...1_500)))
                            do {
                                switch (client + request) % 5 {
                                case 0, 3:
                                    _ = try await engine.start("hammered")
                                case 1:
                                    _ = try await engine.stop("hammered", StopRequest(graceMilliseconds: 50))
                                case 2:
                                    _ = try await engine.stop("hammered", StopRequest(force: true))
                                default:
                                    await driver.crash(uuid, status: ExitStatus(code: 3, at: Date()))
                                    continue
                                }
                                accepted += 1
                            } catch {
                                Issue.record("request \(request) of client \(client) failed: \(error)")
                            }
                        }
                        return accepted
                    }
                }
                return await group.reduce(0, +)
            }
            #expect(accepted == 160)

            // Once the storm has passed, the instance settles where the requests left it.
            try await eventually("the instance to settle") {
                let record = try await h.record("hammered")
                guard await h.driver.callsInFlight == 0 else { return false }
                switch (record.desired.power, record.observed.phase) {
                case (.stopped, .stopped):
                    return true
                case (.running, .running):
                    return record.observed.handledStartRequest == record.desired.startRequest
                case (.running, .stopped):
                    // It crashed after the last start; policy `never` leaves it down.
                    return record.observed.lastExit != nil
                        && record.observed.handledStartRequest == record.desired.startRequest
                default:
                    return false
                }
            }
            let settled = try await h.record("hammered")
            // Every one of the 160 changes was applied exactly once.
            #expect(settled.desired.generation == 1 + 160)
            #expect(settled.desired.startRequest == 1 + 80)
            #expect(await h.driver.overlaps.isEmpty)
            #expect(await h.driver.count(.start, uuid) == settled.observed.startCount)
            #expect(await h.store.record(uuid) == settled)
            // The storm reached the driver: the workload was stopped and started again.
            let kinds = await h.driver.kinds(uuid)
            #expect(settled.observed.startCount >= 2)
            #expect(kinds.contains(.terminate) || kinds.contains(.kill))

            // The last request decides: a stop leaves nothing running…
            _ = try await h.engine.stop("hammered", StopRequest(force: true))
            _ = try await h.engine.wait("hammered", for: .stopped, timeout: .seconds(10))
            try await eventually("the workload to be gone") { await h.driver.liveHandle(uuid) == nil }
            // …and a start leaves exactly the recorded workload running.
            _ = try await h.engine.start("hammered")
            let running = try #require(try await h.engine.wait("hammered", for: .running, timeout: .seconds(10)))
            #expect(try running.observed.phase.runningHandle() == (await h.driver.liveHandle(uuid)))
            #expect(await h.store.record(uuid)?.state == .running)
        }
    }

    @Test("the fake driver notices two calls for one instance in flight at once")
    func overlapDetectorWorks() async throws {
        let driver = FakeDriver(sink: DriverEventStream())
        await driver.setCallDelay(.milliseconds(20))
        let uuid = UUID()
        let request = StartRequest(uuid: uuid, name: "twice", spec: .fake())
        async let first = driver.start(request)
        async let second: Void = driver.cleanup(uuid)
        _ = try await (first, second)
        let overlaps = await driver.overlaps
        #expect(overlaps.count == 1)
        #expect(overlaps.first?.uuid == uuid)
        // Calls for different instances are not overlaps.
        let other = FakeDriver(sink: DriverEventStream())
        await other.setCallDelay(.milliseconds(20))
        async let a: Void = other.cleanup(UUID())
        async let b: Void = other.cleanup(UUID())
        _ = try await (a, b)
        #expect(await other.overlaps.isEmpty)
        #expect(await other.maxInstancesInFlight == 2)
    }

    @Test("different instances are worked on in parallel, up to the number of workers")
    func instancesRunInParallel() async throws {
        try await withEngine(workers: 4) { h in
            await h.driver.setDefaultStart(.hang)
            let names = ["p1", "p2", "p3", "p4"]
            _ = try await h.engine.create(names.map { .named($0) })
            try await eventually("four starts in flight at once") { await h.driver.hangingCount() == 4 }
            #expect(await h.driver.maxInstancesInFlight == 4)
            await h.driver.setDefaultStart(.succeed)
            await h.driver.releaseStarts()
            for name in names {
                _ = try await h.engine.wait(name, for: .running, timeout: .seconds(10))
            }
        }
    }

    @Test("with one worker, instances are worked on one after another")
    func oneWorkerSerializesInstances() async throws {
        try await withEngine(workers: 1) { h in
            await h.driver.setDefaultStart(.hang)
            _ = try await h.engine.create([.named("q1"), .named("q2")])
            try await eventually("one start in flight") { await h.driver.hangingCount() == 1 }
            await settle()
            #expect(await h.driver.hangingCount() == 1)
            await h.driver.setDefaultStart(.succeed)
            await h.driver.releaseStarts()
            _ = try await h.engine.wait("q1", for: .running, timeout: .seconds(10))
            _ = try await h.engine.wait("q2", for: .running, timeout: .seconds(10))
            #expect(await h.driver.maxInstancesInFlight == 1)
        }
    }
}
