//! Rules and their targets: PutRule, DescribeRule, ListRules, Enable/DisableRule, DeleteRule,
//! PutTargets, RemoveTargets, ListTargetsByRule, ListRuleNamesByTarget.

use super::model::Rule;
use super::{Events, EventsError, Result};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Records, Scan};
use chrono::Utc;
use patterns::transform::TargetInput;
use serde_json::Value;

/// Most targets one rule may have.
pub const MAX_TARGETS: usize = 5;

/// What PutRule sets.
pub struct RuleSpec {
    pub name: String,
    pub bus: Option<String>,
    pub pattern: Option<String>,
    pub schedule: Option<String>,
    pub state: Option<String>,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// Rule, connection and API destination names: 1 to 64 of `[.-_A-Za-z0-9]`.
pub(super) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        return Err(EventsError::ValidationException(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
        )));
    }
    Ok(())
}

/// A rule's ARN: `rule/NAME` on the default bus, `rule/BUS/NAME` on others.
pub fn rule_arn(scope: &Scope, bus: &str, name: &str) -> String {
    let path = if bus == "default" {
        name.to_string()
    } else {
        format!("{bus}/{name}")
    };
    format!(
        "arn:aws:events:{}:{}:rule/{path}",
        scope.region, scope.account
    )
}

/// Checks one target as PutTargets does and returns its input configuration.
pub fn target_input(t: &Value) -> Result<TargetInput> {
    let id = t.get("Id").and_then(Value::as_str).unwrap_or("");
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !id_ok {
        return Err(EventsError::ValidationException(format!(
            "Parameter Id is not valid: '{id}' (1 to 64 letters, digits, '.', '-' or '_')"
        )));
    }
    let arn = t.get("Arn").and_then(Value::as_str).unwrap_or("");
    if !arn.starts_with("arn:") || arn.split(':').count() < 6 {
        return Err(EventsError::ValidationException(format!(
            "Parameter(s) Arn is not valid for target {id}: '{arn}'"
        )));
    }
    if let Some(p) = t.get("RetryPolicy") {
        let attempts = p.get("MaximumRetryAttempts").and_then(Value::as_i64);
        if attempts.is_some_and(|a| !(0..=185).contains(&a)) {
            return Err(EventsError::ValidationException(
                "MaximumRetryAttempts must be between 0 and 185.".into(),
            ));
        }
        let age = p.get("MaximumEventAgeInSeconds").and_then(Value::as_i64);
        if age.is_some_and(|a| !(60..=86400).contains(&a)) {
            return Err(EventsError::ValidationException(
                "MaximumEventAgeInSeconds must be between 60 and 86400.".into(),
            ));
        }
    }
    let transformer = t.get("InputTransformer");
    let template = transformer
        .and_then(|x| x.get("InputTemplate"))
        .and_then(Value::as_str);
    let paths_map = match transformer.and_then(|x| x.get("InputPathsMap")) {
        None => None,
        Some(v) => Some(patterns::json::parse(&v.to_string()).map_err(|e| {
            EventsError::ValidationException(format!("InputPathsMap is not valid: {e}"))
        })?),
    };
    if transformer.is_some() && template.is_none() {
        return Err(EventsError::ValidationException(
            "InputTemplate is required with InputTransformer.".into(),
        ));
    }
    TargetInput::new(
        t.get("Input").and_then(Value::as_str),
        t.get("InputPath").and_then(Value::as_str),
        paths_map.as_ref(),
        template,
    )
    .map_err(|e| EventsError::ValidationException(e.to_string().replace("target-1", id)))
}

impl Events {
    pub async fn put_rule(&self, scope: &Scope, spec: RuleSpec) -> Result<Rule> {
        let _change = self.changes.lock().await;
        check_name(&spec.name)?;
        let bus = self.bus(scope, spec.bus.as_deref())?;
        if spec.pattern.is_none() && spec.schedule.is_none() {
            return Err(EventsError::ValidationException(
                "Parameter(s) EventPattern or ScheduleExpression must be specified.".into(),
            ));
        }
        if let Some(p) = &spec.pattern {
            patterns::Pattern::parse(p)
                .map_err(|e| EventsError::InvalidEventPatternException(e.to_string()))?;
        }
        if let Some(s) = &spec.schedule {
            if bus.name != "default" {
                return Err(EventsError::ValidationException(
                    "ScheduleExpression is supported only on the default event bus.".into(),
                ));
            }
            schedule::Expression::parse(s, schedule::Service::Rule)
                .map_err(|e| EventsError::ValidationException(e.message))?;
        }
        let state = spec.state.unwrap_or_else(|| "ENABLED".into());
        if ![
            "ENABLED",
            "DISABLED",
            "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
        ]
        .contains(&state.as_str())
        {
            return Err(EventsError::ValidationException(format!(
                "1 validation error detected: Value '{state}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS]"
            )));
        }
        let arn = rule_arn(scope, &bus.name, &spec.name);
        // PutRule on an existing rule updates it and keeps its targets
        let old = self.store.load::<Rule>(&arn)?;
        let rule = Rule {
            arn,
            name: spec.name,
            bus_name: bus.name.clone(),
            bus_arn: bus.arn.clone(),
            pattern: spec.pattern,
            schedule: spec.schedule,
            state,
            description: spec.description,
            role_arn: spec.role_arn,
            created: old.as_ref().map_or_else(Utc::now, |o| o.created),
            targets: old.as_ref().map(|o| o.targets.clone()).unwrap_or_default(),
            tags: if spec.tags.is_empty() {
                old.map(|o| o.tags).unwrap_or_default()
            } else {
                spec.tags
            },
        };
        self.save_rule(&rule).await?;
        Ok(rule)
    }

    async fn save_rule(&self, rule: &Rule) -> Result<()> {
        self.store.commit(vec![put(rule)]).done().await?;
        self.recompile(&rule.bus_arn);
        self.rules_changed(rule);
        Ok(())
    }

    pub fn rule(&self, scope: &Scope, name: &str, bus: Option<&str>) -> Result<Rule> {
        let b = self.bus(scope, bus)?;
        let arn = rule_arn(scope, &b.name, name);
        self.store.load::<Rule>(&arn)?.ok_or_else(|| {
            EventsError::ResourceNotFoundException(format!(
                "Rule {name} does not exist on EventBus {}.",
                b.name
            ))
        })
    }

    pub fn list_rules(
        &self,
        scope: &Scope,
        bus: Option<&str>,
        prefix: Option<&str>,
    ) -> Result<Vec<Rule>> {
        let b = self.bus(scope, bus)?;
        let mut rules: Vec<Rule> = self.store.list(Scan {
            owner: Some(&b.arn),
            ..Default::default()
        })?;
        rules.retain(|r| prefix.is_none_or(|p| r.name.starts_with(p)));
        rules.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(rules)
    }

    pub async fn set_rule_state(
        &self,
        scope: &Scope,
        name: &str,
        bus: Option<&str>,
        enabled: bool,
    ) -> Result<()> {
        let _change = self.changes.lock().await;
        let mut rule = self.rule(scope, name, bus)?;
        rule.state = if enabled { "ENABLED" } else { "DISABLED" }.into();
        self.save_rule(&rule).await
    }

    pub async fn delete_rule(&self, scope: &Scope, name: &str, bus: Option<&str>) -> Result<()> {
        let _change = self.changes.lock().await;
        let rule = match self.rule(scope, name, bus) {
            Ok(r) => r,
            // deleting a rule that does not exist succeeds, as on AWS
            Err(EventsError::ResourceNotFoundException(_)) => return Ok(()),
            Err(e) => return Err(e),
        };
        if !rule.targets.is_empty() {
            return Err(EventsError::ValidationException(
                "Rule can't be deleted since it has targets.".into(),
            ));
        }
        self.store
            .commit(vec![delete::<Rule>(&rule.arn)])
            .done()
            .await?;
        self.recompile(&rule.bus_arn);
        self.rule_deleted(&rule.arn);
        Ok(())
    }

    /// Adds or replaces targets (by `Id`). Answers the targets that failed, as AWS does.
    pub async fn put_targets(
        &self,
        scope: &Scope,
        name: &str,
        bus: Option<&str>,
        targets: &[Value],
    ) -> Result<Vec<(String, String, String)>> {
        let _change = self.changes.lock().await;
        let mut rule = self.rule(scope, name, bus)?;
        for t in targets {
            target_input(t)?;
        }
        for t in targets {
            let id = t.get("Id").and_then(Value::as_str).unwrap_or("");
            match rule
                .targets
                .iter_mut()
                .find(|o| o.get("Id").and_then(Value::as_str) == Some(id))
            {
                Some(o) => *o = t.clone(),
                None => rule.targets.push(t.clone()),
            }
        }
        if rule.targets.len() > MAX_TARGETS {
            return Err(EventsError::LimitExceededException(format!(
                "The requested resource exceeds the maximum number allowed: a rule has at most {MAX_TARGETS} targets."
            )));
        }
        self.save_rule(&rule).await?;
        Ok(Vec::new())
    }

    /// Removes targets by id; ids the rule does not have are reported as failed entries.
    pub async fn remove_targets(
        &self,
        scope: &Scope,
        name: &str,
        bus: Option<&str>,
        ids: &[String],
    ) -> Result<Vec<(String, String, String)>> {
        let _change = self.changes.lock().await;
        let mut rule = self.rule(scope, name, bus)?;
        let mut failed = Vec::new();
        for id in ids {
            let before = rule.targets.len();
            rule.targets
                .retain(|t| t.get("Id").and_then(Value::as_str) != Some(id));
            if rule.targets.len() == before {
                failed.push((
                    id.clone(),
                    "ResourceNotFoundException".to_string(),
                    format!("Target {id} does not exist on rule {name}."),
                ));
            }
        }
        self.save_rule(&rule).await?;
        Ok(failed)
    }

    /// The names of the rules on a bus with a target of this ARN.
    pub fn rule_names_by_target(
        &self,
        scope: &Scope,
        target_arn: &str,
        bus: Option<&str>,
    ) -> Result<Vec<String>> {
        Ok(self
            .list_rules(scope, bus, None)?
            .into_iter()
            .filter(|r| {
                r.targets
                    .iter()
                    .any(|t| t.get("Arn").and_then(Value::as_str) == Some(target_arn))
            })
            .map(|r| r.name)
            .collect())
    }
}
