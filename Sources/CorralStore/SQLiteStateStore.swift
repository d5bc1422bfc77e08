#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CorralCore
import Foundation
import GRDB

/// The embedded `StateStore`: one SQLite database, `<directory>/corrald.db`, in WAL mode.
///
/// Every write is one `BEGIN IMMEDIATE` transaction. With the default `.full`
/// durability its commit is fsynced to the write-ahead log before the call returns,
/// so an acknowledged write survives a crash of the daemon and a power loss alike.
///
/// The database holds instance environments, which may carry secrets: a database
/// file this store creates is mode 0600, and SQLite gives its `-wal` and `-shm`
/// files the same mode.
///
/// Opening takes the directory's `StateDirectoryLock`, so a second daemon on the
/// same directory fails at once with `unavailable`; the lock is held until
/// `close()` or until the store is released.
///
/// Safe to share between tasks: all access is serialized on one connection and its
/// own dispatch queue, off the cooperative pool. A write is not abandoned when the
/// calling task is cancelled: once called, it commits or fails on its own terms.
public final class SQLiteStateStore: StateStore {
    public static let databaseFileName = "corrald.db"

    /// When a committed write reaches the disk (SQLite's `synchronous` setting).
    public enum Durability: String, Sendable {
        /// `synchronous = FULL`: the write-ahead log is fsynced at every commit. An
        /// acknowledged write survives a process crash and a power loss. Costs one
        /// fsync per write (about 0.1 ms on an idle SSD, milliseconds on a busy disk).
        case full
        /// `synchronous = NORMAL`: the log is fsynced only at checkpoints. An
        /// acknowledged write survives a process crash but the last ones can be lost
        /// on power loss or a kernel crash. For tests and throwaway hosts.
        case normal
    }

    /// The state directory.
    public let directory: String
    /// The database file.
    public let databasePath: String

    /// How writes reach the disk.
    public let durability: Durability

    let database: DatabaseQueue
    private let lock: StateDirectoryLock
    private let closed = ClosedFlag()

    /// Opens (creating if needed) the state database in `directory`, taking the
    /// directory's lock and applying pending schema migrations.
    ///
    /// - Parameters:
    ///   - directory: the state directory; created (mode 0750) if missing.
    ///   - durability: when a committed write is on disk; `.full` unless the host's
    ///     state may be lost on power failure.
    ///   - busyTimeoutSeconds: how long a statement waits for a lock held by another
    ///     connection (an operator's `sqlite3` shell, a backup) before failing
    ///     with `unavailable`.
    /// - Throws: `unavailable` when another daemon holds the directory, or the
    ///   database was written by a newer version; `internal` for any other failure.
    public init(directory: String, durability: Durability = .full, busyTimeoutSeconds: Double = 5) throws(CorralError) {
        self.directory = directory
        self.durability = durability
        self.databasePath = (directory as NSString).appendingPathComponent(Self.databaseFileName)

        do {
            try FileManager.default.createDirectory(
                atPath: directory,
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o750]
            )
        } catch {
            throw CorralError(.internal, "failed to open state: cannot create \(directory)", cause: error)
        }
        let lock = try StateDirectoryLock(directory: directory)
        if let problem = createPrivateFile(databasePath) {
            lock.release()
            throw CorralError(.internal, "failed to open state: cannot create \(databasePath): \(problem)")
        }

        var configuration = Configuration()
        configuration.label = "corral.state"
        configuration.busyMode = .timeout(busyTimeoutSeconds)
        configuration.prepareDatabase { db in
            let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
            guard mode == "wal" else {
                throw CorralError(.internal, "failed to open state: cannot enable WAL (journal mode is \(mode ?? "unknown"))")
            }
            switch durability {
            case .full: try db.execute(sql: "PRAGMA synchronous = FULL")
            case .normal: try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
        }

        do {
            let database = try DatabaseQueue(path: databasePath, configuration: configuration)
            let migrator = StateSchema.migrator
            let superseded = try database.read { db in try migrator.hasBeenSuperseded(db) }
            guard !superseded else {
                throw CorralError.unavailable(
                    "failed to open state: \(databasePath) was written by a newer corrald"
                )
            }
            try migrator.migrate(database)
            self.database = database
        } catch {
            lock.release()
            throw Self.storeError(error, "open state")
        }
        self.lock = lock
    }

    /// Waits for pending writes, closes the database and releases the directory
    /// lock. Idempotent. Every later `load`, `insert`, `update` or `delete` throws
    /// `unavailable`.
    public func close() throws(CorralError) {
        do {
            // Queued behind every pending write, so those still commit; anything
            // queued later finds the store closed.
            database.writeWithoutTransaction { [closed] _ in closed.set() }
            try database.close()
        } catch {
            throw Self.storeError(error, "close state")
        }
        lock.release()
    }

    // MARK: - StateStore

    /// Reads every instance, ordered by creation. A row that does not decode, or
    /// whose JSON disagrees with its `uuid` or `name` column, is moved byte for byte
    /// into the `quarantine` table in the same transaction.
    ///
    /// `quarantined` lists every row the quarantine table holds, those moved now and
    /// those moved by earlier loads, until an operator removes them.
    public func load() async throws(CorralError) -> LoadedState {
        let now = Date().timeIntervalSince1970
        return try await transaction("load state") { db in
            var instances: [InstanceRecord] = []
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT uuid, name, CAST(record AS BLOB) AS record FROM instances ORDER BY created_at, uuid"
            )
            for row in rows {
                let key = String.fromDatabaseValue(row["uuid"]) ?? ""
                let name = String.fromDatabaseValue(row["name"]) ?? ""
                let data = Data.fromDatabaseValue(row["record"]) ?? Data()
                let problem: String
                do {
                    let record = try InstanceRecordCoding.decode(data)
                    if Self.key(record.uuid) != key {
                        problem = "stored under uuid \(key) but the record's uuid is \(Self.key(record.uuid))"
                    } else if record.name != name {
                        problem = "stored under name '\(name)' but the record's name is '\(record.name)'"
                    } else {
                        instances.append(record)
                        continue
                    }
                } catch {
                    problem = InstanceRecordCoding.describe(error)
                }
                try db.execute(
                    sql: """
                        INSERT INTO quarantine (source, key, name, record, reason, quarantined_at)
                        SELECT 'instances', uuid, name, record, ?, ? FROM instances WHERE uuid = ?
                        """,
                    arguments: [problem, now, key]
                )
                try db.execute(sql: "DELETE FROM instances WHERE uuid = ?", arguments: [key])
            }
            let quarantined = try Row.fetchAll(db, sql: "SELECT key, reason FROM quarantine ORDER BY id").map { row in
                QuarantinedRecord(
                    key: String.fromDatabaseValue(row["key"]) ?? "",
                    reason: String.fromDatabaseValue(row["reason"]) ?? ""
                )
            }
            return LoadedState(instances: instances, quarantined: quarantined)
        }
    }

    /// Adds `records` in one transaction. Throws `conflict` for the first record
    /// whose name or uuid is taken (by a stored record or an earlier one in
    /// `records`), and then adds none.
    public func insert(_ records: [InstanceRecord]) async throws(CorralError) {
        guard !records.isEmpty else { return }
        var rows: [StoredRow] = []
        rows.reserveCapacity(records.count)
        for record in records {
            rows.append(try StoredRow(record))
        }
        let now = Date().timeIntervalSince1970
        try await transaction("create instance") { [rows] db in
            let nameTaken = try db.cachedStatement(sql: "SELECT 1 FROM instances WHERE name = ?")
            let uuidTaken = try db.cachedStatement(sql: "SELECT 1 FROM instances WHERE uuid = ?")
            let insert = try db.cachedStatement(sql: """
                INSERT INTO instances (uuid, name, record, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
                """)
            for row in rows {
                if try Bool.fetchOne(nameTaken, arguments: [row.name]) != nil {
                    throw CorralError.conflict("failed to create instance: name '\(row.name)' is already taken")
                }
                if try Bool.fetchOne(uuidTaken, arguments: [row.key]) != nil {
                    throw CorralError.conflict("failed to create instance '\(row.name)': uuid \(row.key) already exists")
                }
                try insert.execute(arguments: [row.key, row.name, row.json, row.createdAt, now])
            }
        }
    }

    /// Replaces the stored record with the same uuid. Throws `notFound` when there
    /// is none, `conflict` when its new name belongs to another record.
    public func update(_ record: InstanceRecord) async throws(CorralError) {
        let row = try StoredRow(record)
        let now = Date().timeIntervalSince1970
        try await transaction("update instance") { db in
            let update = try db.cachedStatement(sql: """
                UPDATE instances SET name = ?, record = ?, updated_at = ? WHERE uuid = ?
                """)
            do {
                try update.execute(arguments: [row.name, row.json, now, row.key])
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                throw CorralError(
                    .conflict,
                    "failed to update instance: name '\(row.name)' is already taken",
                    cause: error
                )
            }
            guard db.changesCount > 0 else {
                throw CorralError.notFound("failed to update instance '\(row.name)' (\(row.key)): not found")
            }
        }
    }

    /// Removes the record with this uuid, if there is one.
    public func delete(_ uuid: UUID) async throws(CorralError) {
        let key = Self.key(uuid)
        try await transaction("delete instance") { db in
            try db.cachedStatement(sql: "DELETE FROM instances WHERE uuid = ?").execute(arguments: [key])
        }
    }

    // MARK: - Plumbing

    /// How an instance's uuid is spelled in the `uuid` column.
    static func key(_ uuid: UUID) -> String {
        uuid.uuidString.lowercased()
    }

    /// Runs `body` in one immediate transaction on the writer queue and waits for it.
    ///
    /// Deliberately not cancellable: a write the caller has started must either
    /// commit or fail, never vanish because the caller's task was cancelled.
    private func transaction<T: Sendable>(
        _ action: String,
        _ body: @escaping @Sendable (Database) throws -> T
    ) async throws(CorralError) -> T {
        let result: Result<T, any Error> = await withCheckedContinuation { continuation in
            database.asyncWriteWithoutTransaction { [closed] db in
                continuation.resume(returning: Result { () throws -> T in
                    guard !closed.isSet else {
                        throw CorralError.unavailable("failed to \(action): the state store is closed")
                    }
                    var value: T?
                    try db.inTransaction(.immediate) {
                        value = try body(db)
                        return .commit
                    }
                    guard let value else {
                        throw CorralError.internal("failed to \(action): the transaction returned nothing")
                    }
                    return value
                })
            }
        }
        switch result {
        case .success(let value):
            return value
        case .failure(let error):
            throw Self.storeError(error, action)
        }
    }

    /// Runs `body` in one immediate transaction on the calling thread, for callers
    /// that are already off the cooperative pool. Not cancellable, like `transaction`.
    func blockingTransaction<T>(_ action: String, _ body: (Database) throws -> T) throws(CorralError) -> T {
        do {
            return try database.writeWithoutTransaction { db in
                guard !closed.isSet else {
                    throw CorralError.unavailable("failed to \(action): the state store is closed")
                }
                var value: T?
                try db.inTransaction(.immediate) {
                    value = try body(db)
                    return .commit
                }
                guard let value else {
                    throw CorralError.internal("failed to \(action): the transaction returned nothing")
                }
                return value
            }
        } catch {
            throw Self.storeError(error, action)
        }
    }

    /// Maps any error met while touching the database to a `CorralError` reading
    /// `failed to <action>: <reason>`, keeping one that already is.
    static func storeError(_ error: any Error, _ action: String) -> CorralError {
        if let error = error as? CorralError { return error }
        guard let error = error as? DatabaseError else {
            return CorralError(.internal, "failed to \(action): \(error)", cause: error)
        }
        let reason = error.message ?? "SQLite error \(error.resultCode.rawValue)"
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return CorralError(.unavailable, "failed to \(action): the database is locked by another connection", cause: error)
        case .SQLITE_FULL:
            return CorralError(.unavailable, "failed to \(action): the disk is full", cause: error)
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_CANTOPEN:
            return CorralError(.unavailable, "failed to \(action): \(reason)", cause: error)
        case .SQLITE_CONSTRAINT:
            return CorralError(.conflict, "failed to \(action): \(reason)", cause: error)
        default:
            return CorralError(.internal, "failed to \(action): \(reason)", cause: error)
        }
    }
}

/// Creates an empty file with mode 0600 unless one exists; returns why it could not.
private func createPrivateFile(_ path: String) -> String? {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    if fd >= 0 {
        close(fd)
        return nil
    }
    let code = errno
    return code == EEXIST ? nil : String(cString: strerror(code))
}

/// Set once by `close()`; read on the writer queue before every transaction.
private final class ClosedFlag: @unchecked Sendable {
    // `@unchecked Sendable`: `value` is only touched while holding `mutex`.
    private let mutex = NSLock()
    private var value = false

    var isSet: Bool { mutex.withLock { value } }
    func set() { mutex.withLock { value = true } }
}

/// A record in the shape of its row, encoded before the writer queue is entered.
private struct StoredRow: Sendable {
    var key: String
    var name: String
    var json: String
    var createdAt: Double

    init(_ record: InstanceRecord) throws(CorralError) {
        key = SQLiteStateStore.key(record.uuid)
        name = record.name
        json = try InstanceRecordCoding.encode(record)
        createdAt = record.createdAt.timeIntervalSince1970
    }
}
