//! Step Functions ARNs: `arn:aws:states:<region>:<account>:<type>:<name>[:<qualifier>]`.

use super::error::{Result, SfnError};

/// Where a request runs: the region from its signature, shoal's account.
#[derive(Debug, Clone)]
pub struct Scope {
    pub region: String,
    pub account: String,
}

impl Scope {
    /// The region and account of any service's ARN (`arn:aws:SERVICE:REGION:ACCOUNT:…`);
    /// missing parts are empty.
    pub fn of_arn(arn: &str) -> Scope {
        let mut p = arn.split(':').skip(3);
        Scope {
            region: p.next().unwrap_or_default().to_string(),
            account: p.next().unwrap_or_default().to_string(),
        }
    }

    pub fn arn(&self, kind: &str, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:{kind}:{name}",
            self.region, self.account
        )
    }
}

/// A parsed ARN of this service.
#[derive(Debug, Clone, PartialEq)]
pub struct Arn {
    pub region: String,
    pub account: String,
    pub kind: String,
    /// Everything after the kind, split on `:`.
    pub parts: Vec<String>,
}

impl Arn {
    pub fn parse(text: &str) -> Result<Arn> {
        let invalid = || SfnError::InvalidArn(format!("Invalid Arn: '{text}'"));
        let p: Vec<&str> = text.split(':').collect();
        if p.len() < 7 || p[0] != "arn" || p[2] != "states" || p[5].is_empty() {
            return Err(invalid());
        }
        if p[6..].iter().any(|s| s.is_empty()) {
            return Err(invalid());
        }
        Ok(Arn {
            region: p[3].to_string(),
            account: p[4].to_string(),
            kind: p[5].to_string(),
            parts: p[6..].iter().map(|s| s.to_string()).collect(),
        })
    }

    pub fn base(&self, kind: &str, name: &str) -> String {
        format!(
            "arn:aws:states:{}:{}:{kind}:{name}",
            self.region, self.account
        )
    }
}

/// A state machine ARN, possibly qualified by a version number or an alias name.
#[derive(Debug, Clone, PartialEq)]
pub enum MachineRef {
    Machine(String),
    Version { machine: String, version: u64 },
    Alias { machine: String, alias: String },
}

impl MachineRef {
    pub fn parse(text: &str) -> Result<MachineRef> {
        let a = Arn::parse(text)?;
        if a.kind != "stateMachine" || a.parts.len() > 2 {
            return Err(SfnError::InvalidArn(format!("Invalid Arn: '{text}'")));
        }
        let machine = a.base("stateMachine", &a.parts[0]);
        Ok(match a.parts.get(1) {
            None => MachineRef::Machine(machine),
            Some(q) => match q.parse::<u64>() {
                Ok(version) => MachineRef::Version { machine, version },
                Err(_) => MachineRef::Alias {
                    machine,
                    alias: q.clone(),
                },
            },
        })
    }

    pub fn machine(&self) -> &str {
        match self {
            MachineRef::Machine(m) => m,
            MachineRef::Version { machine, .. } | MachineRef::Alias { machine, .. } => machine,
        }
    }
}

/// Names of machines, executions, activities and aliases: 1–80 characters, none of AWS's
/// forbidden ones (whitespace, brackets, wildcards, quotes, control characters...).
pub fn check_name(name: &str, what: &str) -> Result<()> {
    let bad =
        |c: char| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c);
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(bad) {
        return Err(SfnError::InvalidName(format!(
            "Invalid {what} name: '{name}'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_arns_with_versions_and_aliases() {
        let m = "arn:aws:states:us-east-1:123456789012:stateMachine:M";
        assert_eq!(MachineRef::parse(m).unwrap(), MachineRef::Machine(m.into()));
        assert_eq!(
            MachineRef::parse(&format!("{m}:3")).unwrap(),
            MachineRef::Version {
                machine: m.into(),
                version: 3
            }
        );
        assert!(matches!(
            MachineRef::parse(&format!("{m}:prod")).unwrap(),
            MachineRef::Alias { .. }
        ));
        assert!(MachineRef::parse("arn:aws:states:us-east-1:1:execution:M:e").is_err());
        assert!(MachineRef::parse("nope").is_err());
        assert!(check_name("ok-name_1", "x").is_ok());
        assert!(check_name("bad name", "x").is_err());
    }
}
