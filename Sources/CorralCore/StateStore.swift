import struct Foundation.UUID

/// A stored record that could not be decoded: kept aside and reported, never dropped.
public struct QuarantinedRecord: Sendable, Equatable {
    public var key: String
    public var reason: String

    public init(key: String, reason: String) {
        self.key = key
        self.reason = reason
    }
}

/// Everything the store held at start-up.
public struct LoadedState: Sendable {
    public var instances: [InstanceRecord]
    public var quarantined: [QuarantinedRecord]

    public init(instances: [InstanceRecord], quarantined: [QuarantinedRecord]) {
        self.instances = instances
        self.quarantined = quarantined
    }
}

/// Durable state. Every write is a transaction that is on disk when it returns.
public protocol StateStore: Sendable {
    /// Reads every record; undecodable ones are moved to quarantine and reported.
    func load() async throws(CorralError) -> LoadedState

    /// Adds new records in one transaction. Throws `conflict` naming the first name
    /// already taken, and then adds none.
    func insert(_ records: [InstanceRecord]) async throws(CorralError)

    /// Replaces a record. Throws `notFound` if it is gone, `conflict` if a rename
    /// collides with another name.
    func update(_ record: InstanceRecord) async throws(CorralError)

    /// Removes a record. Removing one already gone is not an error.
    func delete(_ uuid: UUID) async throws(CorralError)
}
