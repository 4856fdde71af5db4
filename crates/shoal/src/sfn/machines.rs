//! State machines, their versions and aliases, activities and tags.

use super::arn::{check_name, Arn, MachineRef, Scope};
use super::error::{Result, SfnError};
use super::model::{Activity, Alias, Definition, Machine, Tags, Version};
use super::Sfn;
use crate::store::{delete, put, Records, Scan, Write};
use asl::StateMachine;
use chrono::Utc;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A parsed definition in the cache; `stored` when it was read from the store (so starting
/// another execution with it need not store it again).
#[derive(Clone)]
pub(crate) struct Cached {
    pub machine: Arc<StateMachine>,
    pub stored: bool,
}

/// What a state machine ARN resolved to: the definition to run and where it came from.
pub struct Resolved {
    pub machine: Machine,
    pub definition: String,
    pub role_arn: String,
    pub version_arn: Option<String>,
    pub alias_arn: Option<String>,
}

impl Resolved {
    /// What names this definition for good: a version ARN, or the machine ARN at a revision.
    fn source(&self) -> String {
        match &self.version_arn {
            Some(v) => v.clone(),
            None => format!("{}@{}", self.machine.arn, self.machine.revision_id),
        }
    }
}

/// The fields CreateStateMachine takes.
pub struct NewMachine {
    pub name: String,
    pub definition: String,
    pub role_arn: String,
    pub kind: String,
    pub logging: Value,
    pub tracing: Value,
    pub publish: bool,
    pub version_description: String,
    pub tags: Vec<(String, String)>,
}

/// The fields UpdateStateMachine takes (absent ones stay as they are).
pub struct MachineUpdate {
    pub definition: Option<String>,
    pub role_arn: Option<String>,
    pub logging: Option<Value>,
    pub tracing: Option<Value>,
    pub publish: bool,
    pub version_description: String,
}

pub fn definition_hash(text: &str) -> String {
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn revision() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Parses a definition, turning diagnostics into AWS's `InvalidDefinition` error.
pub fn parse_definition(text: &str) -> Result<StateMachine> {
    StateMachine::parse(text)
        .map_err(|d| SfnError::InvalidDefinition(asl::error::invalid_definition_message(&d)))
}

fn check_kind(kind: &str) -> Result<()> {
    match kind {
        "STANDARD" | "EXPRESS" => Ok(()),
        _ => Err(SfnError::ValidationException(format!(
            "1 validation error detected: Value '{kind}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]"
        ))),
    }
}

fn check_role(role: &str) -> Result<()> {
    if role.starts_with("arn:") && role.split(':').count() >= 6 {
        Ok(())
    } else {
        Err(SfnError::InvalidArn(format!("Invalid Arn: '{role}'")))
    }
}

impl Sfn {
    fn cached(&self, hash: &str) -> Option<Cached> {
        self.parsed.lock().ok().and_then(|c| c.get(hash).cloned())
    }

    fn parse_and_cache(&self, hash: String, text: &str, stored: bool) -> Result<Arc<StateMachine>> {
        let sm = Arc::new(parse_definition(text)?);
        self.keep_parsed(hash, sm.clone(), stored);
        Ok(sm)
    }

    fn keep_parsed(&self, hash: String, machine: Arc<StateMachine>, stored: bool) {
        if let Ok(mut c) = self.parsed.lock() {
            if c.len() > 1024 {
                c.clear();
            }
            c.insert(hash, Cached { machine, stored });
        }
    }

    /// A parsed definition, cached by its hash (executions of one machine share it).
    pub fn parsed(&self, text: &str) -> Result<Arc<StateMachine>> {
        let hash = definition_hash(text);
        match self.cached(&hash) {
            Some(c) => Ok(c.machine),
            None => self.parse_and_cache(hash, text, false),
        }
    }

    /// The parsed definition a new execution runs: `text`, whose hash is `hash`.
    pub fn machine_for_start(&self, hash: &str, text: &str) -> Result<Arc<StateMachine>> {
        match self.cached(hash) {
            Some(c) => Ok(c.machine),
            None => self.parse_and_cache(hash.to_string(), text, false),
        }
    }

    /// A definition is known to be stored: starts need not write it again.
    pub(crate) fn stored_definition(&self, hash: &str, machine: Arc<StateMachine>) {
        self.keep_parsed(hash.to_string(), machine, true);
    }

    /// The stored definition text of an execution.
    pub fn definition_text(&self, hash: &str) -> Result<String> {
        let d: Definition = self.store.load(hash)?.ok_or_else(|| {
            SfnError::InternalFailure(format!("the definition {hash} is missing"))
        })?;
        Ok(d.text)
    }

    /// An execution's definition, parsed: from the cache, or read from the store once.
    pub fn machine_for_hash(&self, hash: &str) -> Result<Arc<StateMachine>> {
        match self.cached(hash) {
            Some(c) => Ok(c.machine),
            None => self.parse_and_cache(hash.to_string(), &self.definition_text(hash)?, true),
        }
    }

    /// The hash of a resolved definition and, unless it is known to be stored already, the
    /// write that stores it. Hashes are remembered by source, so a start hashes nothing.
    pub fn definition_write(&self, r: &Resolved) -> (String, Option<Write>) {
        let source = r.source();
        let known = self
            .hashes
            .lock()
            .ok()
            .and_then(|h| h.get(&source).cloned());
        let hash = match known {
            Some(h) => h,
            None => {
                let h = definition_hash(&r.definition);
                if let Ok(mut m) = self.hashes.lock() {
                    if m.len() > 4096 {
                        m.clear();
                    }
                    m.insert(source, h.clone());
                }
                h
            }
        };
        let text = &r.definition;
        if self.cached(&hash).is_some_and(|c| c.stored) {
            return (hash, None);
        }
        let w = put(&Definition {
            hash: hash.clone(),
            text: text.to_string(),
        });
        (hash, Some(w))
    }

    pub fn machine(&self, arn: &str) -> Result<Machine> {
        self.store.load::<Machine>(arn)?.ok_or_else(|| {
            SfnError::StateMachineDoesNotExist(format!("State Machine Does Not Exist: '{arn}'"))
        })
    }

    /// Resolves a machine, version or alias ARN to the definition an execution would run.
    pub fn resolve(&self, arn: &str) -> Result<Resolved> {
        let r = MachineRef::parse(arn)?;
        let machine = self.machine(r.machine())?;
        match r {
            MachineRef::Machine(_) => Ok(Resolved {
                definition: machine.definition.clone(),
                role_arn: machine.role_arn.clone(),
                machine,
                version_arn: None,
                alias_arn: None,
            }),
            MachineRef::Version { .. } => {
                let v = self.version(arn)?;
                Ok(Resolved {
                    definition: v.definition,
                    role_arn: v.role_arn,
                    machine,
                    version_arn: Some(v.arn),
                    alias_arn: None,
                })
            }
            MachineRef::Alias { .. } => {
                let a = self.alias(arn)?;
                let version_arn = pick_route(&a.routing);
                let v = self.version(&version_arn)?;
                Ok(Resolved {
                    definition: v.definition,
                    role_arn: v.role_arn,
                    machine,
                    version_arn: Some(v.arn),
                    alias_arn: Some(a.arn),
                })
            }
        }
    }

    /// The machine, if it still exists (executions outlive deleted machines).
    pub fn store_machine_or_gone(&self, arn: &str) -> Option<Machine> {
        self.store.load::<Machine>(arn).ok().flatten()
    }

    pub fn version(&self, arn: &str) -> Result<Version> {
        self.store.load::<Version>(arn)?.ok_or_else(|| {
            SfnError::ResourceNotFound(format!("State machine version does not exist: '{arn}'"))
        })
    }

    pub fn alias(&self, arn: &str) -> Result<Alias> {
        self.store
            .load::<Alias>(arn)?
            .ok_or_else(|| SfnError::ResourceNotFound(format!("Resource not found: '{arn}'")))
    }

    pub async fn create_machine(
        &self,
        scope: &Scope,
        m: NewMachine,
    ) -> Result<(Machine, Option<Version>)> {
        let _change = self.changes.lock().await;
        check_name(&m.name, "State Machine")?;
        check_kind(&m.kind)?;
        check_role(&m.role_arn)?;
        parse_definition(&m.definition)?;
        let arn = scope.arn("stateMachine", &m.name);
        if let Some(existing) = self.store.load::<Machine>(&arn)? {
            // AWS makes a repeated identical create idempotent.
            if existing.definition == m.definition
                && existing.role_arn == m.role_arn
                && existing.kind == m.kind
            {
                return Ok((existing, None));
            }
            return Err(SfnError::StateMachineAlreadyExists(format!(
                "State Machine Already Exists: '{arn}'"
            )));
        }
        let mut machine = Machine {
            arn: arn.clone(),
            name: m.name,
            definition: m.definition,
            role_arn: m.role_arn,
            kind: m.kind,
            created: Utc::now(),
            revision_id: revision(),
            description: String::new(),
            logging: m.logging,
            tracing: m.tracing,
            last_version: 0,
        };
        let mut writes = Vec::new();
        let version = if m.publish {
            let v = next_version(&mut machine, m.version_description);
            writes.push(put(&v));
            Some(v)
        } else {
            None
        };
        writes.push(put(&machine));
        if !m.tags.is_empty() {
            writes.push(put(&Tags {
                arn: arn.clone(),
                tags: m.tags.into_iter().collect(),
            }));
        }
        self.store.commit(writes).done().await?;
        Ok((machine, version))
    }

    pub async fn update_machine(
        &self,
        arn: &str,
        u: MachineUpdate,
    ) -> Result<(Machine, Option<Version>)> {
        let _change = self.changes.lock().await;
        let MachineUpdate {
            definition,
            role_arn,
            logging,
            tracing,
            publish,
            version_description,
        } = u;
        if !matches!(MachineRef::parse(arn)?, MachineRef::Machine(_)) {
            return Err(SfnError::ValidationException(
                "Update is not supported for a qualified state machine ARN".into(),
            ));
        }
        let mut machine = self.machine(arn)?;
        if definition.is_none() && role_arn.is_none() && logging.is_none() && tracing.is_none() {
            return Err(SfnError::ValidationException("Either the definition, the roleArn, the loggingConfiguration or the tracingConfiguration must be specified".into()));
        }
        if let Some(d) = definition {
            parse_definition(&d)?;
            machine.definition = d;
        }
        if let Some(r) = role_arn {
            check_role(&r)?;
            machine.role_arn = r;
        }
        if let Some(l) = logging {
            machine.logging = l;
        }
        if let Some(t) = tracing {
            machine.tracing = t;
        }
        machine.revision_id = revision();
        let mut writes = Vec::new();
        let version = if publish {
            let v = next_version(&mut machine, version_description);
            writes.push(put(&v));
            Some(v)
        } else {
            None
        };
        writes.push(put(&machine));
        self.store.commit(writes).done().await?;
        Ok((machine, version))
    }

    pub async fn delete_machine(&self, arn: &str) -> Result<()> {
        match MachineRef::parse(arn)? {
            MachineRef::Machine(m) => {
                let _change = self.changes.lock().await;
                let mut writes = vec![delete::<Machine>(&m), delete::<Tags>(&m)];
                for v in self.store.list::<Version>(Scan {
                    owner: Some(&m),
                    ..Default::default()
                })? {
                    writes.push(delete::<Version>(&v.arn));
                }
                for a in self.store.list::<Alias>(Scan {
                    owner: Some(&m),
                    ..Default::default()
                })? {
                    writes.push(delete::<Alias>(&a.arn));
                }
                self.store.commit(writes).done().await?;
                Ok(())
            }
            MachineRef::Version { .. } => self.delete_version(arn).await,
            MachineRef::Alias { .. } => self.delete_alias(arn).await,
        }
    }

    pub fn list_machines(&self, offset: usize, limit: usize) -> Result<Vec<Machine>> {
        Ok(self.store.list::<Machine>(Scan {
            offset,
            limit,
            ..Default::default()
        })?)
    }

    pub async fn publish_version(
        &self,
        arn: &str,
        revision_id: Option<String>,
        description: String,
    ) -> Result<Version> {
        let _change = self.changes.lock().await;
        let mut machine = self.machine(arn)?;
        if let Some(r) = revision_id {
            if r != machine.revision_id {
                return Err(SfnError::ConflictException(format!(
                    "Failed to publish the State Machine version for revision {r}. The current State Machine revision is {}.",
                    machine.revision_id
                )));
            }
        }
        // Publishing an unchanged revision returns the version that already holds it.
        let latest = self
            .store
            .list::<Version>(Scan {
                owner: Some(arn),
                descending: true,
                limit: 1,
                ..Default::default()
            })?
            .into_iter()
            .next();
        if let Some(v) = latest {
            if v.revision_id == machine.revision_id {
                return Ok(v);
            }
        }
        let v = next_version(&mut machine, description);
        self.store
            .commit(vec![put(&v), put(&machine)])
            .done()
            .await?;
        Ok(v)
    }

    pub fn list_versions(&self, arn: &str, offset: usize, limit: usize) -> Result<Vec<Version>> {
        self.machine(arn)?;
        Ok(self.store.list::<Version>(Scan {
            owner: Some(arn),
            descending: true,
            offset,
            limit,
            ..Default::default()
        })?)
    }

    pub async fn delete_version(&self, arn: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        let Ok(v) = self.version(arn) else {
            return Ok(());
        };
        for a in self.store.list::<Alias>(Scan {
            owner: Some(&v.machine_arn),
            ..Default::default()
        })? {
            if a.routing.iter().any(|(r, _)| r == arn) {
                return Err(SfnError::ConflictException(format!(
                    "Version to be deleted must not be referenced by an alias. Current list of aliases referencing this version: [{}]",
                    a.arn
                )));
            }
        }
        self.store
            .commit(vec![delete::<Version>(arn)])
            .done()
            .await?;
        Ok(())
    }

    fn check_routing(&self, routing: &[(String, u32)]) -> Result<String> {
        if routing.is_empty() || routing.len() > 2 {
            return Err(SfnError::ValidationException(
                "Routing configuration must contain one or two versions".into(),
            ));
        }
        if routing.iter().map(|(_, w)| *w).sum::<u32>() != 100 {
            return Err(SfnError::ValidationException(
                "Sum of routing configuration weights must be equal to 100".into(),
            ));
        }
        let mut machine = None;
        for (v, _) in routing {
            let version = self.version(v)?;
            if machine.get_or_insert(version.machine_arn.clone()) != &version.machine_arn {
                return Err(SfnError::ValidationException(
                    "Routing configuration must reference versions of the same state machine"
                        .into(),
                ));
            }
        }
        machine.ok_or_else(|| SfnError::ValidationException("empty routing".into()))
    }

    pub async fn create_alias(
        &self,
        name: &str,
        description: String,
        routing: Vec<(String, u32)>,
    ) -> Result<Alias> {
        let _change = self.changes.lock().await;
        check_name(name, "Alias")?;
        if name.parse::<u64>().is_ok() {
            return Err(SfnError::ValidationException(format!(
                "Alias name cannot be a number: '{name}'"
            )));
        }
        let machine = self.check_routing(&routing)?;
        let arn = format!("{machine}:{name}");
        if let Some(existing) = self.store.load::<Alias>(&arn)? {
            if existing.routing == routing && existing.description == description {
                return Ok(existing);
            }
            return Err(SfnError::ConflictException(format!(
                "Alias already exists: '{arn}'"
            )));
        }
        let now = Utc::now();
        let a = Alias {
            arn,
            machine_arn: machine,
            name: name.into(),
            description,
            routing,
            created: now,
            updated: now,
        };
        self.store.commit(vec![put(&a)]).done().await?;
        Ok(a)
    }

    pub async fn update_alias(
        &self,
        arn: &str,
        description: Option<String>,
        routing: Option<Vec<(String, u32)>>,
    ) -> Result<Alias> {
        let _change = self.changes.lock().await;
        let mut a = self.alias(arn)?;
        if let Some(r) = routing {
            if self.check_routing(&r)? != a.machine_arn {
                return Err(SfnError::ValidationException(
                    "Routing configuration must reference versions of the alias's state machine"
                        .into(),
                ));
            }
            a.routing = r;
        }
        if let Some(d) = description {
            a.description = d;
        }
        a.updated = Utc::now();
        self.store.commit(vec![put(&a)]).done().await?;
        Ok(a)
    }

    pub async fn delete_alias(&self, arn: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        MachineRef::parse(arn)?;
        self.store.commit(vec![delete::<Alias>(arn)]).done().await?;
        Ok(())
    }

    pub fn list_aliases(&self, arn: &str, offset: usize, limit: usize) -> Result<Vec<Alias>> {
        self.machine(arn)?;
        Ok(self.store.list::<Alias>(Scan {
            owner: Some(arn),
            offset,
            limit,
            ..Default::default()
        })?)
    }

    pub async fn create_activity(
        &self,
        scope: &Scope,
        name: &str,
        tags: Vec<(String, String)>,
    ) -> Result<Activity> {
        let _change = self.changes.lock().await;
        check_name(name, "Activity")?;
        let arn = scope.arn("activity", name);
        if let Some(a) = self.store.load::<Activity>(&arn)? {
            return Ok(a);
        }
        let a = Activity {
            arn: arn.clone(),
            name: name.into(),
            created: Utc::now(),
        };
        let mut writes = vec![put(&a)];
        if !tags.is_empty() {
            writes.push(put(&Tags {
                arn,
                tags: tags.into_iter().collect(),
            }));
        }
        self.store.commit(writes).done().await?;
        Ok(a)
    }

    pub fn activity(&self, arn: &str) -> Result<Activity> {
        let a = Arn::parse(arn)?;
        if a.kind != "activity" {
            return Err(SfnError::InvalidArn(format!("Invalid Arn: '{arn}'")));
        }
        self.store.load::<Activity>(arn)?.ok_or_else(|| {
            SfnError::ActivityDoesNotExist(format!("Activity Does Not Exist: '{arn}'"))
        })
    }

    pub async fn delete_activity(&self, arn: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        Arn::parse(arn)?;
        self.store
            .commit(vec![delete::<Activity>(arn), delete::<Tags>(arn)])
            .done()
            .await?;
        Ok(())
    }

    pub fn list_activities(&self, offset: usize, limit: usize) -> Result<Vec<Activity>> {
        Ok(self.store.list::<Activity>(Scan {
            offset,
            limit,
            ..Default::default()
        })?)
    }

    fn check_taggable(&self, arn: &str) -> Result<()> {
        let a = Arn::parse(arn)?;
        let exists = match a.kind.as_str() {
            "stateMachine" => self.store.load::<Machine>(arn)?.is_some(),
            "activity" => self.store.load::<Activity>(arn)?.is_some(),
            _ => false,
        };
        if exists {
            Ok(())
        } else {
            Err(SfnError::ResourceNotFound(format!(
                "Resource not found: '{arn}'"
            )))
        }
    }

    pub fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        self.check_taggable(arn)?;
        Ok(self
            .store
            .load::<Tags>(arn)?
            .map(|t| t.tags)
            .unwrap_or_default())
    }

    pub async fn tag(&self, arn: &str, add: Vec<(String, String)>) -> Result<()> {
        let _change = self.changes.lock().await;
        let mut tags = self.tags(arn)?;
        tags.extend(add);
        if tags.len() > 50 {
            return Err(SfnError::TooManyTags(format!(
                "Too many tags for resource '{arn}': at most 50 are allowed"
            )));
        }
        let t = Tags {
            arn: arn.into(),
            tags,
        };
        self.store.commit(vec![put(&t)]).done().await?;
        Ok(())
    }

    pub async fn untag(&self, arn: &str, keys: Vec<String>) -> Result<()> {
        let _change = self.changes.lock().await;
        let mut tags = self.tags(arn)?;
        for k in keys {
            tags.remove(&k);
        }
        let t = Tags {
            arn: arn.into(),
            tags,
        };
        self.store.commit(vec![put(&t)]).done().await?;
        Ok(())
    }
}

/// Publishes the machine's current revision as its next version number.
fn next_version(machine: &mut Machine, description: String) -> Version {
    machine.last_version += 1;
    Version {
        arn: format!("{}:{}", machine.arn, machine.last_version),
        machine_arn: machine.arn.clone(),
        version: machine.last_version,
        definition: machine.definition.clone(),
        role_arn: machine.role_arn.clone(),
        kind: machine.kind.clone(),
        created: Utc::now(),
        revision_id: machine.revision_id.clone(),
        description,
    }
}

/// Chooses a version of an alias's routing by weight.
fn pick_route(routing: &[(String, u32)]) -> String {
    let roll = rand::random::<u32>() % 100;
    let mut acc = 0;
    for (v, w) in routing {
        acc += w;
        if roll < acc {
            return v.clone();
        }
    }
    routing.first().map(|r| r.0.clone()).unwrap_or_default()
}
