import CorralCore
import Foundation
import GRDB

extension SQLiteStateStore: AddressLeaseStore {
    /// Reads the book, runs `body`, and writes the book back in the same immediate
    /// transaction when `body` changed it. The tables' UNIQUE constraints refuse an
    /// address or MAC leased twice.
    public func updateAddressLeases<R: Sendable>(
        _ body: (inout AddressLeaseBook?) throws(CorralError) -> R
    ) throws(CorralError) -> R {
        var failure: CorralError?
        let result: R? = try blockingTransaction("update address leases") { db -> R? in
            let before = try Self.readBook(db)
            var book = before
            let result: R
            do throws(CorralError) {
                result = try body(&book)
            } catch {
                failure = error
                return nil
            }
            if book != before { try Self.writeBook(book, db) }
            return result
        }
        if let failure { throw failure }
        guard let result else { throw .internal("failed to update address leases: no result") }
        return result
    }

    private static func readBook(_ db: Database) throws -> AddressLeaseBook? {
        guard let pool = try Row.fetchOne(db, sql: "SELECT subnet, last_allocated FROM address_pool WHERE id = 1") else {
            return nil
        }
        let leases = try Row.fetchAll(db, sql: "SELECT instance, address, mac FROM address_leases ORDER BY address")
            .map { row throws -> AddressLease in
                let key: String = row["instance"]
                guard let instance = UUID(uuidString: key) else {
                    throw CorralError.internal("failed to read address leases: instance key '\(key)' is not a UUID")
                }
                return AddressLease(instance: instance, address: row["address"], mac: row["mac"])
            }
        return AddressLeaseBook(subnet: pool["subnet"], lastAllocated: pool["last_allocated"], leases: leases)
    }

    private static func writeBook(_ book: AddressLeaseBook?, _ db: Database) throws {
        try db.execute(sql: "DELETE FROM address_leases")
        guard let book else {
            try db.execute(sql: "DELETE FROM address_pool")
            return
        }
        try db.execute(
            sql: "INSERT OR REPLACE INTO address_pool (id, subnet, last_allocated) VALUES (1, ?, ?)",
            arguments: [book.subnet, book.lastAllocated])
        let insert = try db.cachedStatement(sql: "INSERT INTO address_leases (instance, address, mac) VALUES (?, ?, ?)")
        for lease in book.leases {
            try insert.execute(arguments: [key(lease.instance), lease.address, lease.mac])
        }
    }
}
