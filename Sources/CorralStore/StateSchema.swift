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
        migrator.registerMigration("v2") { db in
            // The instance network's leases (one book: the configured subnet), kept
            // here so that they live and die with the records of their instances.
            try db.execute(sql: """
                CREATE TABLE address_pool (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    subnet TEXT NOT NULL,
                    last_allocated TEXT
                ) STRICT;

                CREATE TABLE address_leases (
                    instance TEXT NOT NULL PRIMARY KEY,
                    address TEXT NOT NULL UNIQUE,
                    mac TEXT NOT NULL UNIQUE
                ) STRICT;
                """)
        }
        migrator.registerMigration("v3") { db in
            // The image store's index: the images it holds and the names of each.
            try db.execute(sql: """
                CREATE TABLE images (
                    digest TEXT NOT NULL PRIMARY KEY,
                    created_at REAL NOT NULL,
                    size_bytes INTEGER NOT NULL
                ) STRICT;

                CREATE TABLE image_references (
                    reference TEXT NOT NULL PRIMARY KEY,
                    digest TEXT NOT NULL REFERENCES images (digest) ON DELETE CASCADE
                ) STRICT;
                """)
        }
        return migrator
    }
}
