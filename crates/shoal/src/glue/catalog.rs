//! The Data Catalog: databases, tables (each update keeps the previous version) and partitions.
//! Records keep Glue's own JSON shapes, so what a client stored comes back member for member.
//! Glue folds database and table names to lower case, as Hive does.

use super::{Glue, GlueError, Result};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Record, Records, Scan, Write};
use crate::values::epoch;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Versions of a table kept besides the current one (Glue keeps many more; enough locally).
const KEPT_VERSIONS: usize = 100;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Database {
    /// `account:region`.
    pub owner: String,
    pub name: String,
    /// Glue's `Database` shape.
    pub body: Value,
}

impl Record for Database {
    const KIND: &'static str = "glue.database";
    fn key(&self) -> String {
        format!("{}:{}", self.owner, self.name)
    }
    fn owner(&self) -> String {
        self.owner.clone()
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Table {
    pub owner: String,
    pub database: String,
    pub name: String,
    /// Glue's `Table` shape, `VersionId` included.
    pub body: Value,
    /// Earlier versions, oldest first.
    #[serde(default)]
    pub history: Vec<Value>,
}

impl Record for Table {
    const KIND: &'static str = "glue.table";
    fn key(&self) -> String {
        format!("{}:{}:{}", self.owner, self.database, self.name)
    }
    fn owner(&self) -> String {
        format!("{}:{}", self.owner, self.database)
    }
}

/// A Glue column list as `(name, type)`; a column without a type reads as `string`.
fn column_list(v: Option<&Value>) -> Vec<(String, String)> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let ty = c.get("Type").and_then(Value::as_str).unwrap_or("string");
            Some((c.get("Name")?.as_str()?.to_string(), ty.to_string()))
        })
        .collect()
}

impl Table {
    /// The columns and partition keys as `(name, glue type)`.
    pub fn columns(&self) -> Vec<(String, String)> {
        let mut out = column_list(self.body.pointer("/StorageDescriptor/Columns"));
        out.extend(self.partition_keys());
        out
    }

    pub fn partition_keys(&self) -> Vec<(String, String)> {
        column_list(self.body.get("PartitionKeys"))
    }

    /// `StorageDescriptor.Location`.
    pub fn location(&self) -> Option<&str> {
        self.body.pointer("/StorageDescriptor/Location")?.as_str()
    }

    /// The data format: the `classification` parameter crawlers set, else the SerDe's.
    pub fn classification(&self) -> String {
        if let Some(c) = self
            .body
            .pointer("/Parameters/classification")
            .and_then(Value::as_str)
        {
            return c.to_ascii_lowercase();
        }
        let serde = self
            .body
            .pointer("/StorageDescriptor/SerdeInfo/SerializationLibrary")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        if serde.contains("parquet") {
            "parquet".into()
        } else if serde.contains("json") {
            "json".into()
        } else if serde.contains("csv") || serde.contains("lazysimple") {
            "csv".into()
        } else {
            "parquet".into()
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Partition {
    pub owner: String,
    pub database: String,
    pub table: String,
    pub values: Vec<String>,
    pub body: Value,
}

impl Record for Partition {
    const KIND: &'static str = "glue.partition";
    fn key(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.owner,
            self.database,
            self.table,
            serde_json::to_string(&self.values).unwrap_or_default()
        )
    }
    fn owner(&self) -> String {
        format!("{}:{}:{}", self.owner, self.database, self.table)
    }
}

/// A database or table name as Glue stores it: lower case, 1–255 characters on one line.
pub fn catalog_name(v: &Value, member: &str) -> Result<String> {
    let name = v.get(member).and_then(Value::as_str).ok_or_else(|| {
        GlueError::invalid(format!(
            "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
            lower_first(member)
        ))
    })?;
    if name.is_empty() || name.chars().count() > 255 || name.contains(['\n', '\r']) {
        return Err(GlueError::invalid(format!(
            "1 validation error detected: Value '{name}' at '{}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]* and length 1–255",
            lower_first(member)
        )));
    }
    Ok(name.to_lowercase())
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// Copies the members of an input shape that the stored shape keeps.
fn take(input: &Value, members: &[&str]) -> Map<String, Value> {
    members
        .iter()
        .filter_map(|m| Some((m.to_string(), input.get(*m)?.clone())))
        .collect()
}

const DATABASE_MEMBERS: &[&str] = &[
    "Description",
    "LocationUri",
    "Parameters",
    "CreateTableDefaultPermissions",
    "TargetDatabase",
    "FederatedDatabase",
];

const TABLE_MEMBERS: &[&str] = &[
    "Description",
    "Owner",
    "LastAccessTime",
    "LastAnalyzedTime",
    "Retention",
    "StorageDescriptor",
    "PartitionKeys",
    "ViewOriginalText",
    "ViewExpandedText",
    "TableType",
    "Parameters",
    "TargetTable",
];

const PARTITION_MEMBERS: &[&str] = &[
    "Values",
    "LastAccessTime",
    "StorageDescriptor",
    "Parameters",
    "LastAnalyzedTime",
];

impl Glue {
    pub fn database(&self, scope: &Scope, name: &str) -> Result<Database> {
        let name = name.to_lowercase();
        self.store
            .load::<Database>(&Glue::key(scope, &name))?
            .ok_or_else(|| GlueError::not_found(format!("Database {name}")))
    }

    pub async fn create_database(&self, scope: &Scope, input: &Value) -> Result<Database> {
        let _change = self.changes.lock().await;
        let name = catalog_name(input, "Name")?;
        if self
            .store
            .load::<Database>(&Glue::key(scope, &name))?
            .is_some()
        {
            return Err(GlueError::AlreadyExistsException(
                "Database already exists.".to_string(),
            ));
        }
        let mut body = take(input, DATABASE_MEMBERS);
        body.insert("Name".into(), json!(name));
        body.insert("CreateTime".into(), epoch(self.now()));
        body.insert("CatalogId".into(), json!(scope.account));
        body.entry("Parameters").or_insert_with(|| json!({}));
        let db = Database {
            owner: Glue::owner(scope),
            name,
            body: Value::Object(body),
        };
        self.store.commit(vec![put(&db)]).done().await?;
        Ok(db)
    }

    pub async fn update_database(&self, scope: &Scope, name: &str, input: &Value) -> Result<()> {
        let _change = self.changes.lock().await;
        let mut db = self.database(scope, name)?;
        let mut body = take(input, DATABASE_MEMBERS);
        body.insert("Name".into(), json!(db.name));
        for k in ["CreateTime", "CatalogId"] {
            if let Some(v) = db.body.get(k) {
                body.insert(k.into(), v.clone());
            }
        }
        db.body = Value::Object(body);
        self.store.commit(vec![put(&db)]).done().await?;
        Ok(())
    }

    pub fn databases(&self, scope: &Scope) -> Result<Vec<Database>> {
        self.owned(scope, |r: &Database| &r.name)
    }

    /// Deletes a database with its tables and their partitions.
    pub async fn delete_database(&self, scope: &Scope, name: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        let db = self.database(scope, name)?;
        let mut writes = vec![delete::<Database>(&db.key())];
        for t in self.tables(scope, &db.name)? {
            writes.extend(self.table_deletes(&t)?);
        }
        self.store.commit(writes).done().await?;
        Ok(())
    }

    fn table_key(scope: &Scope, database: &str, name: &str) -> String {
        format!("{}:{}:{}", Glue::owner(scope), database, name)
    }

    pub fn table(&self, scope: &Scope, database: &str, name: &str) -> Result<Table> {
        let db = self.database(scope, database)?;
        let name = name.to_lowercase();
        self.store
            .load::<Table>(&Glue::table_key(scope, &db.name, &name))?
            .ok_or_else(|| GlueError::not_found(format!("Table {name}")))
    }

    pub fn tables(&self, scope: &Scope, database: &str) -> Result<Vec<Table>> {
        let db = self.database(scope, database)?;
        let mut all: Vec<Table> = self.store.list(Scan {
            owner: Some(&format!("{}:{}", Glue::owner(scope), db.name)),
            ..Default::default()
        })?;
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// The stored shape of a new table or a new version of one.
    fn table_body(
        &self,
        scope: &Scope,
        database: &str,
        name: &str,
        input: &Value,
        created: Option<&Value>,
        version: u64,
    ) -> Value {
        let mut body = take(input, TABLE_MEMBERS);
        let now = epoch(self.now());
        body.insert("Name".into(), json!(name));
        body.insert("DatabaseName".into(), json!(database));
        body.insert("CreateTime".into(), created.cloned().unwrap_or(now.clone()));
        body.insert("UpdateTime".into(), now);
        body.entry("PartitionKeys").or_insert_with(|| json!([]));
        body.entry("Retention").or_insert_with(|| json!(0));
        body.insert(
            "CreatedBy".into(),
            json!(format!("arn:aws:iam::{}:user/shoal", scope.account)),
        );
        body.insert("IsRegisteredWithLakeFormation".into(), json!(false));
        body.insert("CatalogId".into(), json!(scope.account));
        body.insert("VersionId".into(), json!(version.to_string()));
        Value::Object(body)
    }

    pub async fn create_table(
        &self,
        scope: &Scope,
        database: &str,
        input: &Value,
    ) -> Result<Table> {
        let _change = self.changes.lock().await;
        let db = self.database(scope, database)?;
        let name = catalog_name(input, "Name")?;
        if self
            .store
            .load::<Table>(&Glue::table_key(scope, &db.name, &name))?
            .is_some()
        {
            return Err(GlueError::AlreadyExistsException(
                "Table already exists.".to_string(),
            ));
        }
        let table = Table {
            owner: Glue::owner(scope),
            database: db.name.clone(),
            name: name.clone(),
            body: self.table_body(scope, &db.name, &name, input, None, 0),
            history: vec![],
        };
        self.store.commit(vec![put(&table)]).done().await?;
        Ok(table)
    }

    /// A new version of a table; the previous one stays readable through GetTableVersions.
    pub async fn update_table(
        &self,
        scope: &Scope,
        database: &str,
        input: &Value,
    ) -> Result<Table> {
        let _change = self.changes.lock().await;
        let name = catalog_name(input, "Name")?;
        let mut table = self.table(scope, database, &name)?;
        let version = table.version() + 1;
        let body = self.table_body(
            scope,
            &table.database,
            &table.name,
            input,
            table.body.get("CreateTime"),
            version,
        );
        let old = std::mem::replace(&mut table.body, body);
        table.history.push(old);
        if table.history.len() > KEPT_VERSIONS {
            table.history.remove(0);
        }
        self.store.commit(vec![put(&table)]).done().await?;
        Ok(table)
    }

    fn table_deletes(&self, t: &Table) -> Result<Vec<Write>> {
        let mut writes = vec![delete::<Table>(&t.key())];
        let parts: Vec<Partition> = self.store.list(Scan {
            owner: Some(&format!("{}:{}:{}", t.owner, t.database, t.name)),
            ..Default::default()
        })?;
        writes.extend(parts.iter().map(|p| delete::<Partition>(&p.key())));
        Ok(writes)
    }

    pub async fn delete_table(&self, scope: &Scope, database: &str, name: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        let t = self.table(scope, database, name)?;
        let writes = self.table_deletes(&t)?;
        self.store.commit(writes).done().await?;
        Ok(())
    }

    /// Every version of a table, newest first, as `(version id, Table shape)`.
    pub fn table_versions(&self, scope: &Scope, database: &str, name: &str) -> Result<Vec<Value>> {
        let t = self.table(scope, database, name)?;
        Ok(std::iter::once(&t.body)
            .chain(t.history.iter().rev())
            .map(|b| {
                json!({
                    "Table": b,
                    "VersionId": b.get("VersionId").cloned().unwrap_or(json!("0")),
                })
            })
            .collect())
    }

    pub async fn create_partitions(
        &self,
        scope: &Scope,
        database: &str,
        table: &str,
        inputs: &[Value],
    ) -> Result<Vec<(Vec<String>, GlueError)>> {
        let _change = self.changes.lock().await;
        let t = self.table(scope, database, table)?;
        let keys = t.partition_keys().len();
        let mut writes = vec![];
        let mut errors = vec![];
        for input in inputs {
            let values = crate::values::strings(input, "Values");
            if values.len() != keys {
                errors.push((
                    values,
                    GlueError::invalid(format!(
                        "The number of partition keys do not match the number of partition values ({keys} keys)"
                    )),
                ));
                continue;
            }
            let p = self.partition_record(scope, &t, values.clone(), input);
            if self.store.load::<Partition>(&p.key())?.is_some() {
                errors.push((
                    values,
                    GlueError::AlreadyExistsException("Partition already exists.".into()),
                ));
                continue;
            }
            writes.push(put(&p));
        }
        self.store.commit(writes).done().await?;
        Ok(errors)
    }

    fn partition_record(
        &self,
        scope: &Scope,
        t: &Table,
        values: Vec<String>,
        input: &Value,
    ) -> Partition {
        let mut body = take(input, PARTITION_MEMBERS);
        body.insert("Values".into(), json!(values));
        body.insert("DatabaseName".into(), json!(t.database));
        body.insert("TableName".into(), json!(t.name));
        body.insert("CreationTime".into(), epoch(self.now()));
        body.insert("CatalogId".into(), json!(scope.account));
        Partition {
            owner: Glue::owner(scope),
            database: t.database.clone(),
            table: t.name.clone(),
            values,
            body: Value::Object(body),
        }
    }

    /// Creates or replaces the partitions given (crawlers).
    pub(crate) fn partition_writes(
        &self,
        scope: &Scope,
        t: &Table,
        inputs: &[Value],
    ) -> Vec<Write> {
        inputs
            .iter()
            .map(|i| put(&self.partition_record(scope, t, crate::values::strings(i, "Values"), i)))
            .collect()
    }

    pub fn partition(
        &self,
        scope: &Scope,
        database: &str,
        table: &str,
        values: &[String],
    ) -> Result<Partition> {
        let t = self.table(scope, database, table)?;
        let key = format!(
            "{}:{}:{}:{}",
            t.owner,
            t.database,
            t.name,
            serde_json::to_string(values).unwrap_or_default()
        );
        self.store
            .load::<Partition>(&key)?
            .ok_or_else(|| GlueError::not_found("Partition"))
    }

    /// The partitions of a table, filtered by a Glue partition `Expression` when given.
    pub fn partitions(
        &self,
        scope: &Scope,
        database: &str,
        table: &str,
        expression: Option<&str>,
    ) -> Result<Vec<Partition>> {
        let t = self.table(scope, database, table)?;
        let mut all: Vec<Partition> = self.store.list(Scan {
            owner: Some(&format!("{}:{}:{}", t.owner, t.database, t.name)),
            ..Default::default()
        })?;
        all.sort_by(|a, b| a.values.cmp(&b.values));
        let Some(expr) = expression.filter(|e| !e.trim().is_empty()) else {
            return Ok(all);
        };
        let keys: Vec<String> = t.partition_keys().into_iter().map(|(k, _)| k).collect();
        let filter = super::types::PartitionFilter::parse(expr)?;
        Ok(all
            .into_iter()
            .filter(|p| filter.matches(&keys, &p.values))
            .collect())
    }

    pub async fn delete_partitions(
        &self,
        scope: &Scope,
        database: &str,
        table: &str,
        values: &[Vec<String>],
    ) -> Result<Vec<(Vec<String>, GlueError)>> {
        let _change = self.changes.lock().await;
        let mut writes = vec![];
        let mut errors = vec![];
        for v in values {
            match self.partition(scope, database, table, v) {
                Ok(p) => writes.push(delete::<Partition>(&p.key())),
                Err(GlueError::EntityNotFoundException(m)) => {
                    errors.push((v.clone(), GlueError::EntityNotFoundException(m)))
                }
                Err(e) => return Err(e),
            }
        }
        self.store.commit(writes).done().await?;
        Ok(errors)
    }

    pub async fn update_partition(
        &self,
        scope: &Scope,
        database: &str,
        table: &str,
        values: &[String],
        input: &Value,
    ) -> Result<()> {
        let _change = self.changes.lock().await;
        let old = self.partition(scope, database, table, values)?;
        let t = self.table(scope, database, table)?;
        let new_values = {
            let v = crate::values::strings(input, "Values");
            if v.is_empty() {
                values.to_vec()
            } else {
                v
            }
        };
        let mut p = self.partition_record(scope, &t, new_values, input);
        if let Some(c) = old.body.get("CreationTime") {
            p.body["CreationTime"] = c.clone();
        }
        let mut writes = vec![];
        if p.key() != old.key() {
            writes.push(delete::<Partition>(&old.key()));
        }
        writes.push(put(&p));
        self.store.commit(writes).done().await?;
        Ok(())
    }
}

impl Table {
    pub fn version(&self) -> u64 {
        self.body
            .get("VersionId")
            .and_then(Value::as_str)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}
