import CorralCore
import CorralDriverProcess
import Foundation
import Testing

extension ProcessDriverTests {
    /// 300 lines of 8 bytes (`line000\n`…) through a 1000-byte bound.
    @Test func rotationKeepsOffsetsAbsoluteAcrossRuns() async throws {
        try await withFixture(logBoundBytes: 1000) { fixture in
            let script = "i=0; while [ $i -lt 300 ]; do printf 'line%03d\\n' $i; i=$((i+1)); done"
            let (uuid, _) = try await fixture.start(["/bin/sh", "-c", script])
            _ = try #require(await fixture.sink.waitForExit(uuid))
            let expected = Array((0..<300).map { String(format: "line%03d\n", $0) }.joined().utf8)

            let tail = try await fixture.driver.readLog(uuid, offset: nil, limit: 10_000)
            #expect(tail.availableEnd == 2400)
            #expect(tail.availableStart > 0)
            #expect(2400 - tail.availableStart <= 1000)
            #expect(tail.rangeStart == tail.availableStart)
            #expect(tail.bytes == Array(expected[Int(tail.availableStart)...]))

            let middle = try await fixture.driver.readLog(uuid, offset: 2000, limit: 16)
            #expect(middle.rangeStart == 2000)
            #expect(middle.bytes == Array(expected[2000..<2016]))

            let rotatedAway = try await fixture.driver.readLog(uuid, offset: 0, limit: 8)
            #expect(rotatedAway.rangeStart == tail.availableStart)

            let last = try await fixture.driver.readLog(uuid, offset: -8, limit: 100)
            #expect(String(decoding: last.bytes, as: UTF8.self) == "line299\n")
            #expect(last.rangeStart == 2392)

            let everything = try await fixture.driver.readLog(uuid, offset: nil, limit: Int.max)
            #expect(everything.bytes == tail.bytes)

            let pastEnd = try await fixture.driver.readLog(uuid, offset: 5000, limit: 100)
            #expect(pastEnd.bytes.isEmpty)
            #expect(pastEnd.rangeStart == 2400)

            try await fixture.driver.cleanup(uuid)
            let (again, _) = try await fixture.start(["/bin/sh", "-c", "echo second-run"], uuid: uuid)
            _ = try #require(await fixture.sink.waitForExit(again, number: 2))
            let afterRestart = try await fixture.driver.readLog(uuid, offset: nil, limit: 11)
            #expect(afterRestart.availableEnd == 2411)
            #expect(afterRestart.rangeStart == 2400)
            #expect(String(decoding: afterRestart.bytes, as: UTF8.self) == "second-run\n")
        }
    }

    @Test func logOfUnknownInstanceIsEmpty() async throws {
        try await withFixture { fixture in
            let chunk = try await fixture.driver.readLog(UUID(), offset: nil, limit: 100)
            #expect(chunk == LogChunk(bytes: [], availableStart: 0, availableEnd: 0, rangeStart: 0))
        }
    }
}
