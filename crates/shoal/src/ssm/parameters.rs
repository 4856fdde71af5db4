//! PutParameter, GetParameter(s), GetParametersByPath, GetParameterHistory, DeleteParameter(s),
//! DescribeParameters, Label/UnlabelParameterVersion — with Parameter Store's rules and errors.

use super::{Parameter, Result, Ssm, SsmError, Version};
use crate::sfn::arn::Scope;
use crate::store::{delete, put, Records, Scan};
use chrono::Utc;

/// Most versions a parameter keeps, labels per version, value length (Standard tier).
const MAX_VERSIONS: usize = 100;
const MAX_LABELS: usize = 10;
const MAX_VALUE: usize = 4096;
const MAX_DEPTH: usize = 15;

/// What PutParameter sets.
pub struct PutSpec {
    pub name: String,
    pub value: String,
    pub kind: Option<String>,
    pub description: Option<String>,
    pub key_id: Option<String>,
    pub overwrite: bool,
    pub allowed_pattern: Option<String>,
    pub data_type: Option<String>,
    pub tier: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// A parameter as an answer shows it (its latest or a selected version).
pub struct Shown {
    pub name: String,
    pub arn: String,
    pub version: Version,
    /// The value to show: decrypted, or still sealed.
    pub value: String,
    pub selector: Option<String>,
}

fn owner(scope: &Scope) -> String {
    format!("{}:{}", scope.account, scope.region)
}

pub fn arn(scope: &Scope, name: &str) -> String {
    format!(
        "arn:aws:ssm:{}:{}:parameter/{}",
        scope.region,
        scope.account,
        name.trim_start_matches('/')
    )
}

/// Parameter names: letters, digits and `_.-/`; a path starts with `/`; no `aws`/`ssm` prefix;
/// at most 15 levels.
pub fn check_name(name: &str) -> Result<()> {
    let invalid = |why: &str| SsmError::ValidationException(format!("Parameter name: {why}"));
    if name.is_empty() || name.len() > 2048 {
        return Err(invalid("must be 1 to 2048 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c))
    {
        return Err(invalid(
            "can contain only letters, numbers and the symbols .-_/",
        ));
    }
    let first = name.trim_start_matches('/').split('/').next().unwrap_or("");
    let lower = first.to_ascii_lowercase();
    if lower.starts_with("aws") || lower.starts_with("ssm") {
        return Err(invalid(
            "can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).",
        ));
    }
    if name.contains('/') && !name.starts_with('/') {
        return Err(invalid(
            "a parameter name with a path must be fully qualified: it must begin with /",
        ));
    }
    if name.ends_with('/') || name.contains("//") {
        return Err(invalid("a path cannot end with / or hold an empty level"));
    }
    if name.matches('/').count() > MAX_DEPTH {
        return Err(SsmError::HierarchyLevelLimitExceededException(format!(
            "A parameter hierarchy can have a maximum of {MAX_DEPTH} levels."
        )));
    }
    Ok(())
}

/// `name`, `name:3` or `name:label`.
fn selector(text: &str) -> (&str, Option<&str>) {
    match text.rsplit_once(':') {
        Some((n, s)) if !s.is_empty() && !s.contains('/') => (n, Some(s)),
        _ => (text, None),
    }
}

impl Ssm {
    fn load(&self, scope: &Scope, name: &str) -> Result<Option<Parameter>> {
        Ok(self
            .store
            .load::<Parameter>(&format!("{}:{name}", owner(scope)))?)
    }

    fn not_found(name: &str) -> SsmError {
        SsmError::ParameterNotFound(format!("Parameter {name} not found."))
    }

    pub async fn put_parameter(&self, scope: &Scope, s: PutSpec) -> Result<(u64, String)> {
        let _change = self.changes.lock().await;
        check_name(&s.name)?;
        if s.value.is_empty() || s.value.chars().count() > MAX_VALUE {
            return Err(SsmError::ValidationException(format!(
                "1 validation error detected: Value at 'value' failed to satisfy constraint: Member must have length between 1 and {MAX_VALUE}"
            )));
        }
        if s.overwrite && !s.tags.is_empty() {
            return Err(SsmError::ValidationException(
                "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.".into(),
            ));
        }
        let old = self.load(scope, &s.name)?;
        let prev_owned = old.as_ref().and_then(Parameter::latest).cloned();
        let prev = prev_owned.as_ref();
        if prev.is_some() && !s.overwrite {
            return Err(SsmError::ParameterAlreadyExists(
                "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.".into(),
            ));
        }
        let kind = match (&s.kind, prev) {
            (Some(k), _) => k.clone(),
            (None, Some(p)) => p.kind.clone(),
            (None, None) => {
                return Err(SsmError::ValidationException(
                    "A parameter type is required when you create a parameter.".into(),
                ))
            }
        };
        if !["String", "StringList", "SecureString"].contains(&kind.as_str()) {
            return Err(SsmError::UnsupportedParameterType(format!(
                "The parameter type {kind} is not supported: use String, StringList or SecureString."
            )));
        }
        if s.key_id.is_some() && kind != "SecureString" {
            return Err(SsmError::ValidationException(
                "KeyId is required for SecureString type parameter only.".into(),
            ));
        }
        let pattern = s
            .allowed_pattern
            .clone()
            .or_else(|| prev.and_then(|p| p.allowed_pattern.clone()));
        if let Some(p) = &pattern {
            let re = regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| {
                SsmError::ValidationException(format!(
                    "AllowedPattern is not a valid regular expression: {e}"
                ))
            })?;
            if !re.is_match(&s.value) {
                return Err(SsmError::ParameterPatternMismatchException(format!(
                    "Parameter value, cannot be validated against allowedPattern: {p}"
                )));
            }
        }
        let data_type = s.data_type.clone().unwrap_or_else(|| "text".into());
        if !["text", "aws:ec2:image", "aws:ssm:integration"].contains(&data_type.as_str()) {
            return Err(SsmError::ValidationException(format!(
                "The following data type is not supported: {data_type} (use text, aws:ec2:image or aws:ssm:integration)"
            )));
        }
        let value = if kind == "SecureString" {
            self.sealer
                .seal(&s.value, &s.name)
                .ok_or_else(|| SsmError::InternalServerError("cannot seal the value".into()))?
        } else {
            s.value.clone()
        };
        let tier = s.tier.clone().unwrap_or_else(|| "Standard".into());
        let mut p = old.unwrap_or_else(|| Parameter {
            name: s.name.clone(),
            owner: owner(scope),
            versions: Vec::new(),
            tags: s.tags.clone(),
        });
        let version = p.versions.last().map_or(1, |v| v.version + 1);
        if p.versions.len() >= MAX_VERSIONS {
            if p.versions.first().is_some_and(|v| !v.labels.is_empty()) {
                return Err(SsmError::ParameterMaxVersionLimitExceeded(format!(
                    "You attempted to create a new version of {} by calling the PutParameter API with the overwrite flag. Version {}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.",
                    s.name, p.versions[0].version
                )));
            }
            p.versions.remove(0);
        }
        p.versions.push(Version {
            version,
            value,
            kind: kind.clone(),
            description: s
                .description
                .clone()
                .or_else(|| prev.and_then(|v| v.description.clone())),
            key_id: (kind == "SecureString")
                .then(|| s.key_id.clone().unwrap_or_else(|| "alias/aws/ssm".into())),
            allowed_pattern: pattern,
            data_type,
            tier: tier.clone(),
            labels: Vec::new(),
            modified: Utc::now(),
        });
        self.store.commit(vec![put(&p)]).done().await?;
        Ok((version, tier))
    }

    /// The value shown for a version: SecureStrings decrypted only when asked.
    fn show(
        &self,
        p: &Parameter,
        v: &Version,
        decrypt: bool,
        scope: &Scope,
        sel: Option<&str>,
    ) -> Result<Shown> {
        let value = if v.kind == "SecureString" && decrypt {
            self.sealer.open_value(&v.value, &p.name).ok_or_else(|| {
                SsmError::InternalServerError(format!(
                    "the value of {} cannot be decrypted with this server's parameter key",
                    p.name
                ))
            })?
        } else {
            v.value.clone()
        };
        Ok(Shown {
            name: p.name.clone(),
            arn: arn(scope, &p.name),
            version: v.clone(),
            value,
            selector: sel.map(|s| format!(":{s}")),
        })
    }

    pub fn get_parameter(&self, scope: &Scope, text: &str, decrypt: bool) -> Result<Shown> {
        let (name, sel) = selector(text);
        let p = self
            .load(scope, name)?
            .ok_or_else(|| Ssm::not_found(text))?;
        let v = match sel {
            None => p.latest().ok_or_else(|| Ssm::not_found(text))?,
            Some(s) => match s.parse::<u64>() {
                Ok(n) => p.versions.iter().find(|v| v.version == n).ok_or_else(|| {
                    SsmError::ParameterVersionNotFound(format!(
                        "Systems Manager could not find version {n} of {name}. Verify the version and try again."
                    ))
                })?,
                Err(_) => p
                    .versions
                    .iter()
                    .find(|v| v.labels.iter().any(|l| l == s))
                    .ok_or_else(|| Ssm::not_found(text))?,
            },
        };
        self.show(&p, v, decrypt, scope, sel)
    }

    /// The parameters found and the names not found (or not valid), in request order.
    pub fn get_parameters(
        &self,
        scope: &Scope,
        names: &[String],
        decrypt: bool,
    ) -> Result<(Vec<Shown>, Vec<String>)> {
        if names.is_empty() || names.len() > 10 {
            return Err(SsmError::ValidationException(
                "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length between 1 and 10".into(),
            ));
        }
        let (mut found, mut invalid) = (Vec::new(), Vec::new());
        for n in names {
            match self.get_parameter(scope, n, decrypt) {
                Ok(s) => found.push(s),
                Err(SsmError::ParameterNotFound(_) | SsmError::ParameterVersionNotFound(_)) => {
                    invalid.push(n.clone())
                }
                Err(e) => return Err(e),
            }
        }
        Ok((found, invalid))
    }

    fn all(&self, scope: &Scope) -> Result<Vec<Parameter>> {
        let mut all: Vec<Parameter> = self.store.list(Scan {
            owner: Some(&owner(scope)),
            ..Default::default()
        })?;
        all.retain(|p| !p.versions.is_empty());
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    /// Parameters under a path: one level, or every level below with `recursive`.
    pub fn by_path(
        &self,
        scope: &Scope,
        path: &str,
        recursive: bool,
        decrypt: bool,
    ) -> Result<Vec<Shown>> {
        if !path.starts_with('/') {
            return Err(SsmError::ValidationException(
                "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".".into(),
            ));
        }
        let prefix = if path.ends_with('/') {
            path.to_string()
        } else {
            format!("{path}/")
        };
        let mut out = Vec::new();
        for p in self.all(scope)? {
            let Some(rest) = p.name.strip_prefix(&prefix) else {
                continue;
            };
            if !recursive && rest.contains('/') {
                continue;
            }
            if let Some(v) = p.latest() {
                out.push(self.show(&p, v, decrypt, scope, None)?);
            }
        }
        Ok(out)
    }

    pub fn history(&self, scope: &Scope, name: &str, decrypt: bool) -> Result<Vec<Shown>> {
        let p = self
            .load(scope, name)?
            .ok_or_else(|| Ssm::not_found(name))?;
        p.versions
            .iter()
            .map(|v| self.show(&p, v, decrypt, scope, None))
            .collect()
    }

    pub async fn delete_parameter(&self, scope: &Scope, name: &str) -> Result<()> {
        let _change = self.changes.lock().await;
        let p = self
            .load(scope, name)?
            .ok_or_else(|| Ssm::not_found(name))?;
        self.store
            .commit(vec![delete::<Parameter>(&crate::store::Record::key(&p))])
            .done()
            .await?;
        Ok(())
    }

    /// Deleted names and names that did not exist.
    pub async fn delete_parameters(
        &self,
        scope: &Scope,
        names: &[String],
    ) -> Result<(Vec<String>, Vec<String>)> {
        let _change = self.changes.lock().await;
        if names.is_empty() || names.len() > 10 {
            return Err(SsmError::ValidationException(
                "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length between 1 and 10".into(),
            ));
        }
        let (mut deleted, mut invalid, mut writes) = (Vec::new(), Vec::new(), Vec::new());
        for n in names {
            match self.load(scope, n)? {
                Some(p) => {
                    writes.push(delete::<Parameter>(&crate::store::Record::key(&p)));
                    deleted.push(n.clone());
                }
                None => invalid.push(n.clone()),
            }
        }
        self.store.commit(writes).done().await?;
        Ok((deleted, invalid))
    }

    /// Every parameter's latest version (values are not shown by DescribeParameters).
    pub fn describe(&self, scope: &Scope) -> Result<Vec<Shown>> {
        let mut out = Vec::new();
        for p in self.all(scope)? {
            if let Some(v) = p.latest() {
                out.push(Shown {
                    name: p.name.clone(),
                    arn: arn(scope, &p.name),
                    version: v.clone(),
                    value: String::new(),
                    selector: None,
                });
            }
        }
        Ok(out)
    }

    /// Moves labels to a version (a label names one version of a parameter at a time); answers
    /// the labels that are not valid.
    pub async fn label(
        &self,
        scope: &Scope,
        name: &str,
        version: Option<u64>,
        labels: &[String],
    ) -> Result<(u64, Vec<String>)> {
        let _change = self.changes.lock().await;
        let mut p = self
            .load(scope, name)?
            .ok_or_else(|| Ssm::not_found(name))?;
        let target = match version {
            Some(n) => n,
            None => p
                .latest()
                .map(|v| v.version)
                .ok_or_else(|| Ssm::not_found(name))?,
        };
        if !p.versions.iter().any(|v| v.version == target) {
            return Err(SsmError::ParameterVersionNotFound(format!(
                "Systems Manager could not find version {target} of {name}. Verify the version and try again."
            )));
        }
        let invalid: Vec<String> = labels
            .iter()
            .filter(|l| {
                l.is_empty()
                    || l.len() > 100
                    || l.chars().next().is_some_and(|c| c.is_ascii_digit())
                    || l.to_ascii_lowercase().starts_with("aws")
                    || l.to_ascii_lowercase().starts_with("ssm")
                    || !l
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            })
            .cloned()
            .collect();
        for l in labels.iter().filter(|l| !invalid.contains(l)) {
            for v in &mut p.versions {
                v.labels.retain(|x| x != l);
            }
            if let Some(v) = p.versions.iter_mut().find(|v| v.version == target) {
                v.labels.push(l.clone());
            }
        }
        if p.versions.iter().any(|v| v.labels.len() > MAX_LABELS) {
            return Err(SsmError::ParameterVersionLabelLimitExceeded(format!(
                "A parameter version can have a maximum of {MAX_LABELS} labels."
            )));
        }
        self.store.commit(vec![put(&p)]).done().await?;
        Ok((target, invalid))
    }

    /// Removes labels from a version; answers the removed and the invalid (not on it) labels.
    pub async fn unlabel(
        &self,
        scope: &Scope,
        name: &str,
        version: u64,
        labels: &[String],
    ) -> Result<(Vec<String>, Vec<String>)> {
        let _change = self.changes.lock().await;
        let mut p = self
            .load(scope, name)?
            .ok_or_else(|| Ssm::not_found(name))?;
        let v = p
            .versions
            .iter_mut()
            .find(|v| v.version == version)
            .ok_or_else(|| {
                SsmError::ParameterVersionNotFound(format!(
                    "Systems Manager could not find version {version} of {name}. Verify the version and try again."
                ))
            })?;
        let (removed, invalid): (Vec<String>, Vec<String>) =
            labels.iter().cloned().partition(|l| v.labels.contains(l));
        v.labels.retain(|l| !removed.contains(l));
        self.store.commit(vec![put(&p)]).done().await?;
        Ok((removed, invalid))
    }
}
