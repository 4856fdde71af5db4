//! Event buses. Every account and region has a `default` bus, which cannot be deleted.

use super::model::{Bus, Rule};
use super::{Events, EventsError, Result};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Records, Scan};
use chrono::{DateTime, Utc};

fn check_bus_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c));
    if !ok {
        return Err(EventsError::ValidationException(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [/\\.\\-_A-Za-z0-9]+"
        )));
    }
    Ok(())
}

impl Events {
    fn default_bus(scope: &Scope) -> Bus {
        Bus {
            arn: Events::bus_arn(scope, "default"),
            name: "default".into(),
            region: scope.region.clone(),
            account: scope.account.clone(),
            description: None,
            created: DateTime::<Utc>::UNIX_EPOCH,
            tags: Vec::new(),
        }
    }

    pub async fn create_bus(
        &self,
        scope: &Scope,
        name: &str,
        description: Option<String>,
        tags: Vec<(String, String)>,
    ) -> Result<Bus> {
        let _change = self.changes.lock().await;
        check_bus_name(name)?;
        if name.starts_with("aws.") {
            return Err(EventsError::ValidationException(
                "Event source aws.* is reserved: only partner event sources may create such buses"
                    .into(),
            ));
        }
        if name == "default" || self.find_bus(scope, name)?.is_some() {
            return Err(EventsError::ResourceAlreadyExistsException(format!(
                "Event bus {name} already exists."
            )));
        }
        let bus = Bus {
            arn: Events::bus_arn(scope, name),
            name: name.into(),
            region: scope.region.clone(),
            account: scope.account.clone(),
            description,
            created: Utc::now(),
            tags,
        };
        self.store.commit(vec![put(&bus)]).done().await?;
        Ok(bus)
    }

    fn find_bus(&self, scope: &Scope, name_or_arn: &str) -> Result<Option<Bus>> {
        let (name, arn) = Events::bus_ref(scope, Some(name_or_arn));
        let stored = self.store.load::<Bus>(&arn)?;
        // the default bus always exists; it is stored only once it has tags
        if name == "default" && stored.is_none() {
            return Ok(Some(Events::default_bus(scope)));
        }
        Ok(stored)
    }

    /// A bus by name or ARN (none: the default bus).
    pub fn bus(&self, scope: &Scope, name_or_arn: Option<&str>) -> Result<Bus> {
        let (name, _) = Events::bus_ref(scope, name_or_arn);
        self.find_bus(scope, &name)?.ok_or_else(|| {
            EventsError::ResourceNotFoundException(format!("Event bus {name} does not exist."))
        })
    }

    pub async fn delete_bus(&self, scope: &Scope, name: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        if name == "default" {
            return Err(EventsError::ValidationException(
                "Cannot delete event bus default.".into(),
            ));
        }
        // deleting a bus that does not exist succeeds, as on AWS
        let Some(bus) = self.find_bus(scope, name)? else {
            return Ok(());
        };
        let rules: Vec<Rule> = self.store.list(Scan {
            owner: Some(&bus.arn),
            ..Default::default()
        })?;
        let mut writes = vec![delete::<Bus>(&bus.arn)];
        writes.extend(rules.iter().map(|r| delete::<Rule>(&r.arn)));
        self.store.commit(writes).done().await?;
        self.forget(&bus.arn);
        for r in &rules {
            self.rule_deleted(&r.arn);
        }
        Ok(())
    }

    /// The buses of an account and region, `default` first, optionally by name prefix.
    pub fn list_buses(&self, scope: &Scope, prefix: Option<&str>) -> Result<Vec<Bus>> {
        let owner = format!("{}:{}", scope.account, scope.region);
        let stored = self.store.list::<Bus>(Scan {
            owner: Some(&owner),
            ..Default::default()
        })?;
        let mut buses = Vec::new();
        if !stored.iter().any(|b| b.name == "default") {
            buses.push(Events::default_bus(scope));
        }
        buses.extend(stored);
        buses.retain(|b| prefix.is_none_or(|p| b.name.starts_with(p)));
        Ok(buses)
    }
}
