//! Tags of log groups: at creation (CreateLogGroup's `tags`), by ARN (TagResource,
//! UntagResource, ListTagsForResource) and by name (the older TagLogGroup, UntagLogGroup,
//! ListTagsLogGroup). Tools that create a group read its tags back at once (Terraform does).

use super::{Group, Logs, LogsError, Result};
use crate::sfn::arn::Scope;
use crate::store::put;
use std::collections::BTreeMap;

/// The most tags a log group has, as on AWS.
const MAX_TAGS: usize = 50;

/// Checks tags as AWS does: keys of 1 to 128 characters not starting with `aws:`, values of
/// at most 256.
pub fn check(tags: &BTreeMap<String, String>) -> Result<()> {
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || k.starts_with("aws:") {
            return Err(LogsError::InvalidParameterException(format!(
                "1 validation error detected: Value '{k}' at 'tags' failed to satisfy constraint: Map keys must be 1 to 128 characters long and must not start with aws:"
            )));
        }
        if v.chars().count() > 256 {
            return Err(LogsError::InvalidParameterException(format!(
                "1 validation error detected: Value '{v}' at 'tags' failed to satisfy constraint: Map values must be at most 256 characters long"
            )));
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(LogsError::TooManyTagsException(format!(
            "A resource can have no more than {MAX_TAGS} tags."
        )));
    }
    Ok(())
}

/// The name of the log group an ARN names (`arn:aws:logs:<region>:<account>:log-group:<name>`,
/// with or without a trailing `:*`), if it is the caller's.
pub fn group_of_arn<'a>(scope: &Scope, arn: &'a str) -> Result<&'a str> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    match parts.as_slice() {
        ["arn", _, "logs", region, account, "log-group", name]
            if *region == scope.region && *account == scope.account && !name.is_empty() =>
        {
            Ok(name.strip_suffix(":*").unwrap_or(name))
        }
        ["arn", _, "logs", ..] => Err(LogsError::ResourceNotFoundException(format!(
            "The specified resource does not exist: {arn}"
        ))),
        _ => Err(LogsError::InvalidParameterException(format!(
            "Invalid resource ARN: {arn}"
        ))),
    }
}

impl Logs {
    /// Adds (or replaces) tags of a group.
    pub async fn tag(
        &self,
        scope: &Scope,
        group: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<()> {
        self.retag(scope, group, |g| g.tags.extend(tags)).await
    }

    pub async fn untag(&self, scope: &Scope, group: &str, keys: &[String]) -> Result<()> {
        self.retag(scope, group, |g| g.tags.retain(|k, _| !keys.contains(k)))
            .await
    }

    async fn retag(
        &self,
        scope: &Scope,
        group: &str,
        change: impl FnOnce(&mut Group),
    ) -> Result<()> {
        let _change = self.changes.lock().await;
        let mut g = self.group(scope, group)?;
        change(&mut g);
        check(&g.tags)?;
        self.store.commit(vec![put(&g)]).done().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_the_callers_groups_and_tags_are_checked() {
        let scope = Scope {
            region: "us-east-1".into(),
            account: "123456789012".into(),
        };
        let arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:x";
        assert_eq!(group_of_arn(&scope, arn).unwrap(), "/aws/lambda/f:x");
        assert_eq!(
            group_of_arn(&scope, &format!("{arn}:*")).unwrap(),
            "/aws/lambda/f:x"
        );
        let other = "arn:aws:logs:eu-west-1:123456789012:log-group:g";
        assert!(matches!(
            group_of_arn(&scope, other),
            Err(LogsError::ResourceNotFoundException(_))
        ));
        assert!(matches!(
            group_of_arn(&scope, "nonsense"),
            Err(LogsError::InvalidParameterException(_))
        ));
        let many: BTreeMap<String, String> =
            (0..51).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(matches!(
            check(&many),
            Err(LogsError::TooManyTagsException(_))
        ));
        let reserved = BTreeMap::from([("aws:x".to_string(), String::new())]);
        assert!(matches!(
            check(&reserved),
            Err(LogsError::InvalidParameterException(_))
        ));
    }
}
