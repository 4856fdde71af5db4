//! TagResource, UntagResource, ListTagsForResource for buses and rules.

use super::model::{Bus, Rule};
use super::{Events, EventsError, Result};
use crate::store::{put, Records};

/// What a tag change applies to.
enum Tagged {
    Bus(Bus),
    Rule(Rule),
}

fn merge(tags: &mut Vec<(String, String)>, new: Vec<(String, String)>) {
    for (k, v) in new {
        match tags.iter_mut().find(|(t, _)| *t == k) {
            Some(slot) => slot.1 = v,
            None => tags.push((k, v)),
        }
    }
}

impl Events {
    fn tagged(&self, arn: &str) -> Result<Tagged> {
        let missing =
            || EventsError::ResourceNotFoundException(format!("Resource {arn} does not exist."));
        if arn.contains(":rule/") {
            return self
                .store
                .load::<Rule>(arn)?
                .map(Tagged::Rule)
                .ok_or_else(missing);
        }
        if let Some(name) = arn.split(":event-bus/").nth(1) {
            if let Some(b) = self.store.load::<Bus>(arn)? {
                return Ok(Tagged::Bus(b));
            }
            if name == "default" {
                // the default bus is stored once it has tags
                let p: Vec<&str> = arn.split(':').collect();
                let scope = crate::sfn::arn::Scope {
                    region: p.get(3).copied().unwrap_or("").into(),
                    account: p.get(4).copied().unwrap_or("").into(),
                };
                return self.bus(&scope, Some("default")).map(Tagged::Bus);
            }
        }
        Err(missing())
    }

    async fn save_tagged(&self, t: Tagged) -> Result<()> {
        let w = match &t {
            Tagged::Bus(b) => put(b),
            Tagged::Rule(r) => put(r),
        };
        self.store.commit(vec![w]).done().await?;
        Ok(())
    }

    pub async fn tag_resource(&self, arn: &str, tags: Vec<(String, String)>) -> Result<()> {
        let _change = self.changes.lock().await;
        let mut t = self.tagged(arn)?;
        match &mut t {
            Tagged::Bus(b) => merge(&mut b.tags, tags),
            Tagged::Rule(r) => merge(&mut r.tags, tags),
        }
        if match &t {
            Tagged::Bus(b) => b.tags.len(),
            Tagged::Rule(r) => r.tags.len(),
        } > 50
        {
            return Err(EventsError::LimitExceededException(
                "A resource can have at most 50 tags.".into(),
            ));
        }
        self.save_tagged(t).await
    }

    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<()> {
        let _change = self.changes.lock().await;
        let mut t = self.tagged(arn)?;
        match &mut t {
            Tagged::Bus(b) => b.tags.retain(|(k, _)| !keys.contains(k)),
            Tagged::Rule(r) => r.tags.retain(|(k, _)| !keys.contains(k)),
        }
        self.save_tagged(t).await
    }

    pub fn tags_of(&self, arn: &str) -> Result<Vec<(String, String)>> {
        Ok(match self.tagged(arn)? {
            Tagged::Bus(b) => b.tags,
            Tagged::Rule(r) => r.tags,
        })
    }
}
