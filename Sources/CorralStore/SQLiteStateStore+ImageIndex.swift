import CorralCore
import GRDB

extension SQLiteStateStore: ImageIndexStore {
    public func readImageIndex() throws(CorralError) -> [ImageIndexEntry] {
        try blockingTransaction("read the image index") { db in
            var names: [String: [String]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT reference, digest FROM image_references ORDER BY reference") {
                names[row["digest"], default: []].append(row["reference"])
            }
            return try Row.fetchAll(db, sql: "SELECT digest, created_at, size_bytes FROM images ORDER BY digest").map { row in
                let digest: String = row["digest"]
                return ImageIndexEntry(
                    digest: digest, references: names[digest] ?? [], createdAt: row["created_at"], sizeBytes: row["size_bytes"])
            }
        }
    }

    public func replaceImageIndex(_ entries: [ImageIndexEntry]) throws(CorralError) {
        try blockingTransaction("write the image index") { db in
            try db.execute(sql: "DELETE FROM image_references")
            try db.execute(sql: "DELETE FROM images")
            let image = try db.cachedStatement(sql: "INSERT INTO images (digest, created_at, size_bytes) VALUES (?, ?, ?)")
            let reference = try db.cachedStatement(sql: "INSERT INTO image_references (reference, digest) VALUES (?, ?)")
            for entry in entries {
                try image.execute(arguments: [entry.digest, entry.createdAt, entry.sizeBytes])
                for name in entry.references {
                    try reference.execute(arguments: [name, entry.digest])
                }
            }
        }
    }
}
