import Foundation

/// When each instance next needs a look: the earliest requested wake-up per instance.
struct WakeupSchedule {
    private var deadlines: [UUID: Date] = [:]

    /// Keeps the earlier of the existing and the new deadline.
    mutating func schedule(_ uuid: UUID, at date: Date) -> Bool {
        if let existing = deadlines[uuid], existing <= date { return false }
        deadlines[uuid] = date
        return true
    }

    var earliest: Date? { deadlines.values.min() }

    /// Removes and returns the instances due at `now`.
    mutating func takeDue(now: Date) -> [UUID] {
        let due = deadlines.filter { $0.value <= now }.map(\.key)
        for uuid in due { deadlines.removeValue(forKey: uuid) }
        return due
    }

    mutating func cancel(_ uuid: UUID) {
        deadlines.removeValue(forKey: uuid)
    }
}
