//! Schedule groups and schedules: Create/Get/Update/Delete/List, validated as Scheduler does.

use super::model::{Group, Schedule};
use super::{Result, Scheduler, SchedulerError};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Records, Scan};
use chrono::{DateTime, Utc};
use schedule::{Expression, Service};
use serde_json::Value;

/// What CreateSchedule and UpdateSchedule set.
pub struct ScheduleSpec {
    pub name: String,
    pub group: Option<String>,
    pub expression: String,
    pub timezone: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub window: Option<Value>,
    pub target: Option<Value>,
    pub state: Option<String>,
    pub description: Option<String>,
    pub after_completion: Option<String>,
}

fn owner(scope: &Scope) -> String {
    format!("{}:{}", scope.account, scope.region)
}

fn check_name(name: &str, what: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(SchedulerError::Validation(format!(
            "1 validation error detected: Value '{name}' at '{what}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z-_.]+$"
        )))
    }
}

pub fn group_arn(scope: &Scope, name: &str) -> String {
    format!(
        "arn:aws:scheduler:{}:{}:schedule-group/{name}",
        scope.region, scope.account
    )
}

pub fn schedule_arn(scope: &Scope, group: &str, name: &str) -> String {
    format!(
        "arn:aws:scheduler:{}:{}:schedule/{group}/{name}",
        scope.region, scope.account
    )
}

fn default_group(scope: &Scope) -> Group {
    Group {
        arn: group_arn(scope, "default"),
        name: "default".into(),
        owner: owner(scope),
        created: DateTime::<Utc>::UNIX_EPOCH,
        tags: Vec::new(),
    }
}

/// Checks a schedule's settings; answers its parsed expression.
fn check(spec: &ScheduleSpec) -> Result<Expression> {
    let expr = Expression::parse(&spec.expression, Service::Scheduler)
        .map_err(|e| SchedulerError::Validation(e.message))?;
    if let Some(tz) = &spec.timezone {
        if schedule::time_zone(tz).is_none() {
            return Err(SchedulerError::Validation(format!(
                "Invalid ScheduleExpressionTimezone {tz}."
            )));
        }
    }
    if let (Some(s), Some(e)) = (spec.start, spec.end) {
        if e <= s {
            return Err(SchedulerError::Validation(
                "The EndDate must be after the StartDate.".into(),
            ));
        }
    }
    let window = spec.window.as_ref().ok_or_else(|| {
        SchedulerError::Validation("1 validation error detected: Value null at 'flexibleTimeWindow' failed to satisfy constraint: Member must not be null".into())
    })?;
    match window.get("Mode").and_then(Value::as_str) {
        Some("OFF") => {}
        Some("FLEXIBLE") => {
            let m = window.get("MaximumWindowInMinutes").and_then(Value::as_u64);
            if !m.is_some_and(|m| (1..=1440).contains(&m)) {
                return Err(SchedulerError::Validation(
                    "MaximumWindowInMinutes must be between 1 and 1440 when Mode is FLEXIBLE."
                        .into(),
                ));
            }
        }
        _ => {
            return Err(SchedulerError::Validation(
                "FlexibleTimeWindow.Mode must be OFF or FLEXIBLE.".into(),
            ))
        }
    }
    let target = spec.target.as_ref().ok_or_else(|| {
        SchedulerError::Validation("1 validation error detected: Value null at 'target' failed to satisfy constraint: Member must not be null".into())
    })?;
    for k in ["Arn", "RoleArn"] {
        if target
            .get(k)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(SchedulerError::Validation(format!(
                "1 validation error detected: Value null at 'target.{}' failed to satisfy constraint: Member must not be null",
                k.to_lowercase()
            )));
        }
    }
    if let Some(src) = target
        .pointer("/EventBridgeParameters/Source")
        .and_then(Value::as_str)
    {
        if src.starts_with("aws.") {
            return Err(SchedulerError::Validation(
                "EventBridgeParameters.Source must not start with 'aws.'.".into(),
            ));
        }
    }
    if let Some(p) = target.get("RetryPolicy") {
        let attempts = p.get("MaximumRetryAttempts").and_then(Value::as_i64);
        let age = p.get("MaximumEventAgeInSeconds").and_then(Value::as_i64);
        if attempts.is_some_and(|a| !(0..=185).contains(&a))
            || age.is_some_and(|a| !(60..=86400).contains(&a))
        {
            return Err(SchedulerError::Validation(
                "RetryPolicy: MaximumRetryAttempts is 0 to 185 and MaximumEventAgeInSeconds 60 to 86400.".into(),
            ));
        }
    }
    for (v, k, allowed) in [
        (&spec.state, "state", &["ENABLED", "DISABLED"][..]),
        (
            &spec.after_completion,
            "actionAfterCompletion",
            &["NONE", "DELETE"][..],
        ),
    ] {
        if let Some(v) = v {
            if !allowed.contains(&v.as_str()) {
                return Err(SchedulerError::Validation(format!(
                    "1 validation error detected: Value '{v}' at '{k}' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                    allowed.join(", ")
                )));
            }
        }
    }
    Ok(expr)
}

impl Scheduler {
    pub async fn create_group(
        &self,
        scope: &Scope,
        name: &str,
        tags: Vec<(String, String)>,
    ) -> Result<Group> {
        let _edit = self.edits.lock().await;
        check_name(name, "name")?;
        if name == "default" || self.store.load::<Group>(&group_arn(scope, name))?.is_some() {
            return Err(SchedulerError::Conflict(format!(
                "Schedule group {name} already exists."
            )));
        }
        let g = Group {
            arn: group_arn(scope, name),
            name: name.into(),
            owner: owner(scope),
            created: Utc::now(),
            tags,
        };
        self.store.commit(vec![put(&g)]).done().await?;
        Ok(g)
    }

    pub fn group(&self, scope: &Scope, name: &str) -> Result<Group> {
        if name == "default" {
            return Ok(default_group(scope));
        }
        self.store
            .load::<Group>(&group_arn(scope, name))?
            .ok_or_else(|| {
                SchedulerError::NotFound(format!("Schedule group {name} does not exist."))
            })
    }

    /// Deletes a group and its schedules.
    pub async fn delete_group(&self, scope: &Scope, name: &str) -> Result<()> {
        let _edit = self.edits.lock().await;
        if name == "default" {
            return Err(SchedulerError::Validation(
                "The default schedule group cannot be deleted.".into(),
            ));
        }
        let g = self.group(scope, name)?;
        let gone = self.list_schedules(scope, Some(name))?;
        let mut writes = vec![delete::<Group>(&g.arn)];
        writes.extend(gone.iter().map(|s| delete::<Schedule>(&s.arn)));
        self.store.commit(writes).done().await?;
        for s in gone {
            self.changed(&s.arn, None);
        }
        Ok(())
    }

    pub fn list_groups(&self, scope: &Scope) -> Result<Vec<Group>> {
        let mut groups = vec![default_group(scope)];
        groups.extend(self.store.list::<Group>(Scan {
            owner: Some(&owner(scope)),
            ..Default::default()
        })?);
        Ok(groups)
    }

    /// Creates a schedule, or (`update`) replaces every setting of an existing one.
    pub async fn put_schedule(
        &self,
        scope: &Scope,
        spec: ScheduleSpec,
        update: bool,
    ) -> Result<Schedule> {
        let _edit = self.edits.lock().await;
        check_name(&spec.name, "name")?;
        let group = spec.group.clone().unwrap_or_else(|| "default".into());
        self.group(scope, &group)?;
        check(&spec)?;
        let arn = schedule_arn(scope, &group, &spec.name);
        let old = self.store.load::<Schedule>(&arn)?;
        match (&old, update) {
            (Some(_), false) => {
                return Err(SchedulerError::Conflict(format!(
                    "Schedule {} already exists.",
                    spec.name
                )))
            }
            (None, true) => {
                return Err(SchedulerError::NotFound(format!(
                    "Schedule {} does not exist.",
                    spec.name
                )))
            }
            _ => {}
        }
        let now = Utc::now();
        let s = Schedule {
            arn,
            name: spec.name,
            group,
            owner: owner(scope),
            expression: spec.expression,
            timezone: spec.timezone.unwrap_or_else(|| "UTC".into()),
            start: spec.start,
            end: spec.end,
            window: spec.window.unwrap_or_default(),
            target: spec.target.unwrap_or_default(),
            state: spec.state.unwrap_or_else(|| "ENABLED".into()),
            description: spec.description,
            after_completion: spec.after_completion.unwrap_or_else(|| "NONE".into()),
            created: old.as_ref().map_or(now, |o| o.created),
            modified: now,
        };
        self.store.commit(vec![put(&s)]).done().await?;
        self.changed(&s.arn, Some(&s));
        Ok(s)
    }

    pub fn schedule(&self, scope: &Scope, group: Option<&str>, name: &str) -> Result<Schedule> {
        let group = group.unwrap_or("default");
        self.store
            .load::<Schedule>(&schedule_arn(scope, group, name))?
            .ok_or_else(|| SchedulerError::NotFound(format!("Schedule {name} does not exist.")))
    }

    pub async fn delete_schedule(
        &self,
        scope: &Scope,
        group: Option<&str>,
        name: &str,
    ) -> Result<()> {
        let _edit = self.edits.lock().await;
        let s = self.schedule(scope, group, name)?;
        self.store
            .commit(vec![delete::<Schedule>(&s.arn)])
            .done()
            .await?;
        self.changed(&s.arn, None);
        Ok(())
    }

    pub fn list_schedules(&self, scope: &Scope, group: Option<&str>) -> Result<Vec<Schedule>> {
        let mut all: Vec<Schedule> = self.store.list(Scan {
            owner: Some(&owner(scope)),
            ..Default::default()
        })?;
        if let Some(g) = group {
            all.retain(|s| s.group == g);
        }
        all.sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));
        Ok(all)
    }

    fn changed(&self, arn: &str, s: Option<&Schedule>) {
        let _ = self
            .changes
            .send((arn.to_string(), s.map(|s| Box::new(s.clone()))));
    }
}
