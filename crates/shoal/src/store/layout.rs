//! The database's tables, and the conversion of a database in an older layout.
//!
//! Records and history chunks are often larger than the ~1 KB that fits in a b-tree cell of an
//! index. In a `WITHOUT ROWID` table the row is the index key, so every comparison on the way
//! to an insert's place read the whole row of the cell, overflow pages included (two thirds of
//! a commit's time for a new execution with a random name), and the database was twice the size.
//! Rowid tables keep the rows in a table of their own, found through small key indexes.

use super::sqlite::backend;
use super::StoreError;
use rusqlite::{Connection, OptionalExtension};

/// Marks the layout below in `PRAGMA user_version`.
const VERSION: i64 = 1;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL,
    sort INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS history (
    execution TEXT NOT NULL, first_id INTEGER NOT NULL, events TEXT NOT NULL,
    PRIMARY KEY (execution, first_id));
";

/// Listings order by `sort, key`: the key is in the index so that no listing sorts.
const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS records_owner ON records (kind, owner, sort, key);
CREATE INDEX IF NOT EXISTS records_status ON records (kind, status, sort, key);
";

/// Creates the tables, or converts those of an older layout, in one transaction: a crash
/// during a conversion leaves the database as it was. A database of a newer shoal is refused
/// rather than written in a layout it does not expect.
pub fn prepare(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(backend)?;
    if version > VERSION {
        return Err(StoreError::Backend(format!(
            "the database is in layout {version}, written by a newer shoal; this one reads \
             layouts up to {VERSION}"
        )));
    }
    convert(conn).map_err(backend)
}

fn convert(conn: &mut Connection) -> rusqlite::Result<()> {
    let records: Option<String> = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'records'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if records.is_some_and(|sql| sql.contains("WITHOUT ROWID")) {
        let count = |table: &str| -> rusqlite::Result<i64> {
            tx.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        };
        eprintln!(
            "shoal: converting the store to rowid tables ({} records, {} history chunks); once",
            count("records")?,
            count("history")?
        );
        tx.execute_batch(
            "DROP INDEX IF EXISTS records_owner; DROP INDEX IF EXISTS records_status;
             ALTER TABLE records RENAME TO records_old; ALTER TABLE history RENAME TO history_old;",
        )?;
        tx.execute_batch(TABLES)?;
        tx.execute_batch(
            "INSERT INTO records (kind, key, owner, status, sort, body)
                 SELECT kind, key, owner, status, sort, body FROM records_old ORDER BY kind, key;
             INSERT INTO history (execution, first_id, events)
                 SELECT execution, first_id, events FROM history_old ORDER BY execution, first_id;
             DROP TABLE records_old; DROP TABLE history_old;",
        )?;
    } else {
        tx.execute_batch(TABLES)?;
    }
    tx.execute_batch(INDEXES)?;
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use crate::store::sqlite::SqliteStore;
    use crate::store::{Scan, Store};
    use rusqlite::Connection;

    /// The layout before rowid tables.
    const OLD: &str = "
CREATE TABLE records (
    kind TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL,
    sort INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID;
CREATE INDEX records_owner ON records (kind, owner, sort);
CREATE INDEX records_status ON records (kind, status, sort);
CREATE TABLE history (
    execution TEXT NOT NULL, first_id INTEGER NOT NULL, events TEXT NOT NULL,
    PRIMARY KEY (execution, first_id)) WITHOUT ROWID;
";

    #[test]
    fn a_database_in_the_old_layout_is_converted_with_everything_in_it() {
        let dir = std::env::temp_dir().join(format!("shoal-layout-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        {
            let old = Connection::open(dir.join("shoal.db")).unwrap();
            old.execute_batch("PRAGMA journal_mode=WAL;").unwrap();
            old.execute_batch(OLD).unwrap();
            let big = "x".repeat(3000);
            for n in 0..40i64 {
                old.execute(
                    "INSERT INTO records VALUES ('thing', ?1, 'o', ?2, ?3, ?4)",
                    rusqlite::params![
                        format!("k{n}"),
                        if n % 2 == 0 { "even" } else { "odd" },
                        n,
                        format!("{{\"n\":{n},\"pad\":\"{big}\"}}")
                    ],
                )
                .unwrap();
                old.execute(
                    "INSERT INTO history VALUES ('exec', ?1, ?2)",
                    rusqlite::params![n * 3 + 1, format!("[{n}]")],
                )
                .unwrap();
            }
        }
        for _ in 0..2 {
            // the second opening finds the new layout and leaves it as it is
            let s = SqliteStore::open(&dir).unwrap();
            let body = s.get("thing", "k7").unwrap().unwrap();
            assert!(body.starts_with("{\"n\":7,"), "{}", &body[..20]);
            let history = s.history("exec").unwrap();
            assert_eq!(history.len(), 40);
            assert_eq!((&*history[0].1, &*history[39].1), ("[0]", "[39]"));
            let odd = s
                .scan(&Scan {
                    kind: "thing",
                    status: Some("odd"),
                    descending: true,
                    limit: 3,
                    ..Default::default()
                })
                .unwrap();
            let keys: Vec<&str> = odd.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["k39", "k37", "k35"]);
            s.close();
            let c = Connection::open(dir.join("shoal.db")).unwrap();
            let sql: String = c
                .query_row(
                    "SELECT group_concat(sql, ';') FROM sqlite_master",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(
                !sql.contains("WITHOUT ROWID") && !sql.contains("_old"),
                "{sql}"
            );
            let version: i64 = c
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(version, super::VERSION);
        }
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_database_of_a_newer_layout_is_refused() {
        let dir = std::env::temp_dir().join(format!("shoal-layout-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = Connection::open(dir.join("shoal.db")).unwrap();
        c.pragma_update(None, "user_version", super::VERSION + 1)
            .unwrap();
        drop(c);
        let err = SqliteStore::open(&dir).err().expect("refused");
        assert!(err.to_string().contains("newer shoal"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
