import GRDB

/// The schema of the state database: numbered, append-only migrations.
///
/// A released migration is never edited; a change is a new migration appended
/// with the next number. The SQL is spelled out rather than built with a DSL so
/// that what a migration does can never change under it.
enum StateSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            // `record` is the JSON of an `InstanceRecord`; `uuid` and `name` repeat
            // two of its fields so that the database enforces their uniqueness.
            try db.execute(sql: """
                CREATE TABLE instances (
                    uuid TEXT NOT NULL PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    record TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    updated_at REAL NOT NULL
                ) STRICT;

                CREATE TABLE quarantine (
                    id INTEGER PRIMARY KEY,
                    source TEXT NOT NULL,
                    key TEXT NOT NULL,
                    name TEXT,
                    record ANY,
                    reason TEXT NOT NULL,
                    quarantined_at REAL NOT NULL
                ) STRICT;
                """)
        }
        return migrator
    }
}
