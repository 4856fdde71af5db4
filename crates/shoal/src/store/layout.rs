//! The database's tables, and the conversion of a database in an older layout.
//!
//! Records and history chunks are often larger than the ~1 KB that fits in a b-tree cell of an
//! index. In a `WITHOUT ROWID` table the row is the index key, so every comparison on the way
//! to an insert's place read the whole row of the cell, overflow pages included (two thirds of
//! a commit's time for a new execution with a random name), and the database was twice the size.
//! Rowid tables keep the rows in a table of their own, found through small key indexes.
//!
//! A record's `summary` (what listings show) comes before its body in the row: SQLite reads a
//! row's columns in order, and a listing reading the summary of a large record would otherwise
//! walk the body's overflow pages (layout 2; layout 1 had no summary).
//!
//! The owner index carries the summary too (layout 3), so that a listing of an owner's records
//! reads index pages alone: several summaries to a page, where the rows they came from took a
//! page each. A reader's page cache starts empty after every commit in WAL mode, so this is
//! what ListExecutions reads while executions start: 21 pages for a hundred executions instead
//! of 110. Writing it costs a commit about half a page more.

use super::sqlite::backend;
use super::StoreError;
use rusqlite::{Connection, OptionalExtension};

/// Marks the layout below in `PRAGMA user_version`.
const VERSION: i64 = 3;

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL,
    sort INTEGER NOT NULL, summary TEXT, body TEXT NOT NULL, PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS history (
    execution TEXT NOT NULL, first_id INTEGER NOT NULL, events TEXT NOT NULL,
    PRIMARY KEY (execution, first_id));
";

/// Listings order by `sort, key`: the key is in the index so that no listing sorts. The owner
/// index ends with the summary, so that listings of summaries need not read the rows.
const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS records_owner ON records (kind, owner, sort, key, summary);
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
    let count = |table: &str| -> rusqlite::Result<i64> {
        tx.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
    };
    match records {
        Some(sql) if sql.contains("WITHOUT ROWID") => {
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
        }
        Some(sql) if !sql.contains("summary") => {
            // layout 1: the records gain a summary column before their bodies (records stored
            // before have none, and listings read their bodies)
            eprintln!(
                "shoal: adding summaries to the store's {} records; once",
                count("records")?
            );
            tx.execute_batch(
                "DROP INDEX IF EXISTS records_owner; DROP INDEX IF EXISTS records_status;
                 ALTER TABLE records RENAME TO records_old;",
            )?;
            tx.execute_batch(TABLES)?;
            tx.execute_batch(
                "INSERT INTO records (rowid, kind, key, owner, status, sort, body)
                     SELECT rowid, kind, key, owner, status, sort, body FROM records_old;
                 DROP TABLE records_old;",
            )?;
        }
        _ => tx.execute_batch(TABLES)?,
    }
    let owner_index: Option<String> = tx
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'records_owner'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if owner_index.is_some_and(|sql| !sql.contains("summary")) {
        // layout 2: the owner index gains the summaries
        eprintln!(
            "shoal: adding summaries to the owner index of the store's {} records; once",
            count("records")?
        );
        tx.execute_batch("DROP INDEX records_owner;")?;
    }
    tx.execute_batch(INDEXES)?;
    tx.pragma_update(None, "user_version", VERSION)?;
    tx.commit()
}

#[cfg(test)]
mod tests {
    use crate::store::sqlite::SqliteStore;
    use crate::store::{put, Record, Records, Scan, Store};
    use rusqlite::Connection;

    /// A database of a new directory, in WAL mode, with the tables of an older layout.
    fn database_in(layout: &str) -> (std::path::PathBuf, Connection) {
        let dir = std::env::temp_dir().join(format!("shoal-layout-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let c = Connection::open(dir.join("shoal.db")).unwrap();
        c.execute_batch("PRAGMA journal_mode=WAL;").unwrap();
        c.execute_batch(layout).unwrap();
        (dir, c)
    }

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
        let (dir, old) = database_in(OLD);
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
        drop(old);
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

    /// Layout 1: rowid tables, records without a summary.
    const LAYOUT_1: &str = "
CREATE TABLE records (
    kind TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL,
    sort INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, key));
CREATE TABLE history (
    execution TEXT NOT NULL, first_id INTEGER NOT NULL, events TEXT NOT NULL,
    PRIMARY KEY (execution, first_id));
CREATE INDEX records_owner ON records (kind, owner, sort, key);
CREATE INDEX records_status ON records (kind, status, sort, key);
PRAGMA user_version = 1;
";

    #[derive(serde::Serialize, serde::Deserialize, Clone)]
    struct Thing {
        name: String,
        n: i64,
        pad: String,
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Shown {
        name: String,
        n: i64,
    }

    impl Record for Thing {
        const KIND: &'static str = "thing";
        fn key(&self) -> String {
            self.name.clone()
        }
        fn owner(&self) -> String {
            "o".into()
        }
        fn sort(&self) -> i64 {
            self.n
        }
        fn summary(&self) -> Option<String> {
            Some(format!("{{\"name\":\"{}\",\"n\":{}}}", self.name, self.n))
        }
    }

    /// Records of layout 1 keep their bodies and places; listings read their bodies until they
    /// are written again, with a summary.
    #[test]
    fn a_database_in_layout_1_gains_summaries() {
        let (dir, old) = database_in(LAYOUT_1);
        for n in 0..3i64 {
            let body = format!(
                "{{\"name\":\"t{n}\",\"n\":{n},\"pad\":\"{}\"}}",
                "x".repeat(9000)
            );
            old.execute(
                "INSERT INTO records VALUES ('thing', ?1, 'o', '', ?2, ?3)",
                rusqlite::params![format!("t{n}"), n, body],
            )
            .unwrap();
        }
        old.execute("INSERT INTO history VALUES ('exec', 1, '[1]')", [])
            .unwrap();
        drop(old);
        let s = SqliteStore::open(&dir).unwrap();
        let scan = || Scan {
            owner: Some("o"),
            ..Default::default()
        };
        let shown = |s: &SqliteStore| s.list_summaries::<Thing, Shown>(scan()).unwrap();
        let all = |n: i64| -> Vec<Shown> {
            (0..n)
                .map(|n| Shown {
                    name: format!("t{n}"),
                    n,
                })
                .collect()
        };
        assert_eq!(shown(&s), all(3));
        assert_eq!(s.history("exec").unwrap().len(), 1);
        s.commit_wait(vec![put(&Thing {
            name: "t3".into(),
            n: 3,
            pad: "y".repeat(9000),
        })])
        .unwrap();
        assert_eq!(shown(&s), all(4));
        // the new record's summary is what the listing read
        let texts = s
            .scan(&Scan {
                kind: "thing",
                summaries: true,
                ..scan()
            })
            .unwrap();
        assert_eq!(texts[3].1, "{\"name\":\"t3\",\"n\":3}");
        assert!(texts[0].1.len() > 9000);
        s.close();
        let (sql, version) = stored(&dir, "records");
        assert!(sql.contains("summary TEXT, body"), "{sql}");
        assert_eq!(version, super::VERSION);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// The definition of a table or index in a closed store's database, and its layout.
    fn stored(dir: &std::path::Path, name: &str) -> (String, i64) {
        let c = Connection::open(dir.join("shoal.db")).unwrap();
        let sql = c
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .unwrap();
        let version = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        (sql, version)
    }

    /// Layout 2: summaries in the rows only.
    const LAYOUT_2: &str = "
CREATE TABLE records (
    kind TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL,
    sort INTEGER NOT NULL, summary TEXT, body TEXT NOT NULL, PRIMARY KEY (kind, key));
CREATE TABLE history (
    execution TEXT NOT NULL, first_id INTEGER NOT NULL, events TEXT NOT NULL,
    PRIMARY KEY (execution, first_id));
CREATE INDEX records_owner ON records (kind, owner, sort, key);
CREATE INDEX records_status ON records (kind, status, sort, key);
PRAGMA user_version = 2;
";

    /// The owner index of layout 2 is built again with the summaries, which listings then read
    /// from it; records without a summary are still listed by their bodies.
    #[test]
    fn a_database_in_layout_2_gains_summaries_in_its_owner_index() {
        let (dir, old) = database_in(LAYOUT_2);
        for n in 0..4i64 {
            let summary = format!("{{\"name\":\"t{n}\",\"n\":{n}}}");
            let body = format!("{{\"name\":\"t{n}\",\"n\":{n},\"pad\":\"x\"}}");
            old.execute(
                "INSERT INTO records VALUES ('thing', ?1, 'o', '', ?2, ?3, ?4)",
                rusqlite::params![format!("t{n}"), n, (n != 2).then_some(summary), body],
            )
            .unwrap();
        }
        drop(old);
        for _ in 0..2 {
            let s = SqliteStore::open(&dir).unwrap();
            let texts = s
                .scan(&Scan {
                    kind: "thing",
                    owner: Some("o"),
                    summaries: true,
                    ..Default::default()
                })
                .unwrap();
            let texts: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
            assert_eq!(
                texts,
                [
                    "{\"name\":\"t0\",\"n\":0}",
                    "{\"name\":\"t1\",\"n\":1}",
                    "{\"name\":\"t2\",\"n\":2,\"pad\":\"x\"}",
                    "{\"name\":\"t3\",\"n\":3}"
                ]
            );
            s.close();
            let (sql, version) = stored(&dir, "records_owner");
            assert!(sql.contains("key, summary)"), "{sql}");
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
