//! Where a replay stands in each branch of a history. Concurrent Parallel branches and Map
//! iterations interleave their events in the history in the order they happened; a replay runs
//! the branches one at a time, so it reads each branch's events as a sequence of its own.
//! Events name their branch by path (`""` for the top level, `.<fan-out>-<branch>` per level),
//! the runner's names, which a replay reproduces. A branch may run more than once in a segment
//! (see `asl::runner::Reach`), so the events it records live are kept for its next run too.

use super::model::StoredEvent;
use asl::history::HistoryEvent;
use asl::runner::Reach;
use std::collections::HashMap;

pub struct Lanes {
    /// The stored events, then the events branches recorded live in this segment.
    recorded: Vec<StoredEvent>,
    /// How many of `recorded` were stored.
    loaded: usize,
    lanes: Vec<Lane>,
    index: HashMap<String, usize>,
    /// The lane the runner is in.
    current: usize,
    /// Events recorded live in this segment, all lanes together.
    live_events: usize,
}

struct Lane {
    path: String,
    /// This lane's events: where each is in `recorded`, and its position in the history the
    /// replay reproduces (stored events first, then this segment's in the order recorded).
    events: Vec<(usize, usize)>,
    /// How many of them the current run has seen.
    next: usize,
    reach: Reach,
}

impl Lane {
    fn new(path: &str, reach: Reach) -> Lane {
        Lane {
            path: path.to_string(),
            events: Vec::new(),
            next: 0,
            reach,
        }
    }
}

impl Lanes {
    /// The lanes of `recorded`, the events a replay must reproduce. The top-level lane is
    /// current and goes as far as `reach`.
    pub fn new(recorded: Vec<StoredEvent>, reach: Reach) -> Lanes {
        let mut lanes = vec![Lane::new("", reach)];
        let mut index = HashMap::from([(String::new(), 0)]);
        for (i, e) in recorded.iter().enumerate() {
            let k = *index.entry(e.branch.clone()).or_insert_with(|| {
                lanes.push(Lane::new(&e.branch, reach));
                lanes.len() - 1
            });
            lanes[k].events.push((i, i));
        }
        Lanes {
            loaded: recorded.len(),
            recorded,
            lanes,
            index,
            current: 0,
            live_events: 0,
        }
    }

    /// How many events the replay must reproduce.
    pub fn loaded(&self) -> usize {
        self.loaded
    }

    /// The current lane's next known event: `None` once its run has caught up.
    pub fn next(&self) -> Option<&StoredEvent> {
        let l = &self.lanes[self.current];
        l.events.get(l.next).map(|&(i, _)| &self.recorded[i])
    }

    /// Where the current lane's next event stands in the history: its known position, or,
    /// when it is new, the position it gets when this segment's new events are stored.
    pub fn position(&self) -> usize {
        let l = &self.lanes[self.current];
        match l.events.get(l.next) {
            Some(&(_, p)) => p,
            None => self.loaded + self.live_events,
        }
    }

    /// The current lane's next known event was replayed.
    pub fn advance(&mut self) {
        self.lanes[self.current].next += 1;
    }

    /// The current lane recorded `e` live. A branch keeps it, to replay it if it runs again.
    pub fn recorded_live(&mut self, e: &HistoryEvent) {
        let position = self.loaded + self.live_events;
        self.live_events += 1;
        if self.current == 0 {
            // the top level runs once per segment
            return;
        }
        let l = &mut self.lanes[self.current];
        self.recorded.push(StoredEvent {
            timestamp: e.timestamp,
            kind: e.kind.to_string(),
            id: e.id,
            previous_event_id: e.previous_event_id,
            branch: l.path.clone(),
            // a replay reads the details of task events only (their outcomes)
            details: match e.kind.starts_with("Task") || e.kind.starts_with("Activity") {
                true => e.details.clone().unwrap_or_default(),
                false => Default::default(),
            },
        });
        l.events.push((self.recorded.len() - 1, position));
        l.next += 1;
    }

    /// How far the current lane may go.
    pub fn reach(&self) -> Reach {
        self.lanes[self.current].reach
    }

    /// The current lane's path.
    pub fn path(&self) -> &str {
        &self.lanes[self.current].path
    }

    /// The runner starts the branch `path` from the current lane, its parent: its run starts
    /// over, and goes as far as `reach` and its parent's reach allow.
    pub fn enter(&mut self, path: &str, reach: Reach) {
        let reach = reach.min(self.reach());
        let k = self.lane(path);
        let l = &mut self.lanes[k];
        l.next = 0;
        l.reach = reach;
        self.current = k;
    }

    /// The runner is back in the branch `path`.
    pub fn resume(&mut self, path: &str) {
        self.current = self.lane(path);
    }

    fn lane(&mut self, path: &str) -> usize {
        if let Some(&k) = self.index.get(path) {
            return k;
        }
        self.lanes.push(Lane::new(path, Reach::Free));
        let k = self.lanes.len() - 1;
        self.index.insert(path.to_string(), k);
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn event(branch: &str, kind: &'static str, id: u64) -> StoredEvent {
        StoredEvent {
            timestamp: DateTime::<Utc>::from_timestamp(id as i64, 0).unwrap_or_default(),
            kind: kind.into(),
            id,
            previous_event_id: id - 1,
            branch: branch.into(),
            details: Default::default(),
        }
    }

    #[test]
    fn each_branch_replays_its_own_events_in_order() {
        let mut l = Lanes::new(
            vec![
                event("", "ParallelStateStarted", 1),
                event(".0-0", "PassStateEntered", 2),
                event(".0-1", "WaitStateEntered", 3),
                event(".0-0", "PassStateExited", 4),
            ],
            Reach::Free,
        );
        assert_eq!(l.next().map(|e| e.id), Some(1));
        l.advance();
        assert!(l.next().is_none());
        l.enter(".0-1", Reach::Free);
        assert_eq!((l.next().map(|e| e.id), l.position()), (Some(3), 2));
        l.advance();
        assert_eq!(l.position(), 4, "a new event goes after the stored ones");
        l.resume("");
        l.enter(".0-0", Reach::Free);
        assert_eq!(l.next().map(|e| e.id), Some(2));
        l.advance();
        assert_eq!(l.next().map(|e| e.id), Some(4));
    }

    #[test]
    fn a_branch_run_again_replays_what_it_recorded_live() {
        let mut l = Lanes::new(vec![event("", "ParallelStateStarted", 1)], Reach::Free);
        l.advance();
        l.enter(".0-0", Reach::Now);
        let mut live = HistoryEvent {
            timestamp: Utc::now(),
            kind: "WaitStateEntered",
            id: 2,
            previous_event_id: 1,
            details: None,
            branch: ".0-0".into(),
        };
        l.recorded_live(&live);
        assert!(l.next().is_none());
        l.resume("");
        l.enter(".0-1", Reach::Now);
        live.kind = "PassStateEntered";
        l.recorded_live(&live);
        l.resume("");
        l.enter(".0-0", Reach::Free);
        assert_eq!(
            (l.next().map(|e| e.kind.as_str()), l.position()),
            (Some("WaitStateEntered"), 1)
        );
        l.advance();
        assert_eq!(l.position(), 3, "after both branches' new events");
    }

    #[test]
    fn a_branch_goes_no_further_than_the_one_around_it() {
        let mut l = Lanes::new(Vec::new(), Reach::Free);
        l.enter(".0-0", Reach::Stored);
        l.enter(".0-0.0-0", Reach::Free);
        assert_eq!(l.reach(), Reach::Stored);
    }
}
