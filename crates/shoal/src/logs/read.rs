//! Reading a stream's or a group's events in time order, a page at a time, forward or backward,
//! at the cost of the page rather than of everything stored (GetLogEvents, FilterLogEvents,
//! `shoal logs tail --follow`).
//!
//! Batches are listed in the order of their earliest event and each spans at most [`SPAN_MS`].
//! So, reading forward, no event of a batch not read yet comes before the next batch's earliest
//! event; reading backward, none comes after that plus the span. A page is complete once it
//! holds one event more than it gives that those bounds cannot beat.

use super::{Batch, Event, Found, Logs, Result};
use crate::store::{Record, Records, Scan, Store};
use std::collections::{BTreeMap, VecDeque};

/// The longest time between a batch's earliest and latest event: longer puts are cut.
pub const SPAN_MS: i64 = 60_000;

/// Where an event stands in time order: its timestamp, then the order it was stored in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub timestamp: i64,
    pub seq: u64,
    pub index: u32,
}

impl Position {
    pub const FIRST: Position = Position::at(i64::MIN);
    pub const LAST: Position = Position {
        timestamp: i64::MAX,
        seq: u64::MAX,
        index: u32::MAX,
    };

    /// The first position at time `ms` (milliseconds since the epoch).
    pub const fn at(ms: i64) -> Position {
        Position {
            timestamp: ms,
            seq: 0,
            index: 0,
        }
    }

    /// The position right after this one.
    pub fn next(self) -> Position {
        if self == Position::LAST {
            return self;
        }
        match self.index.checked_add(1) {
            Some(index) => Position { index, ..self },
            None => Position {
                seq: self.seq.saturating_add(1),
                index: 0,
                ..self
            },
        }
    }

    /// The position as text, for a pagination token.
    pub fn token(self) -> String {
        format!("{}_{}_{}", self.timestamp, self.seq, self.index)
    }

    pub fn parse(token: &str) -> Option<Position> {
        let mut parts = token.split('_');
        let p = Position {
            timestamp: parts.next()?.parse().ok()?,
            seq: parts.next()?.parse().ok()?,
            index: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(p)
    }
}

/// Whose batches to read.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// One stream's, by its record key.
    Stream(&'a str),
    /// All the streams' of a group, by its record key.
    Group(&'a str),
}

/// Which events a read keeps, given their stream's name.
pub type Keep<'a> = dyn Fn(&str, &Event) -> bool + Sync + 'a;

/// Which events to read: those at positions `from..to` that `keep` keeps (given the stream's
/// name), at most `limit`, the first of them or (`backward`) the last.
pub struct Query<'a> {
    pub from: Position,
    pub to: Position,
    pub backward: bool,
    pub limit: usize,
    pub keep: &'a Keep<'a>,
}

/// A page of events in time order, and whether more lie beyond it in the direction read.
#[derive(Debug)]
pub struct Page {
    pub events: Vec<Found>,
    pub more: bool,
}

/// A batch as its key tells it, before its events are read.
#[derive(Debug)]
pub struct Listed {
    pub key: String,
    pub earliest: i64,
    pub latest: i64,
}

impl Listed {
    /// Reads a key that [`Batch::key`] made; `None` for any other.
    pub fn parse(key: String) -> Option<Listed> {
        let mut parts = key.rsplitn(4, '\u{0}');
        let (_seq, latest, earliest) = (parts.next()?, parts.next()?, parts.next()?);
        let (earliest, latest) = (earliest.parse().ok()?, latest.parse().ok()?);
        Some(Listed {
            key,
            earliest,
            latest,
        })
    }
}

/// Batches of one source, listed a few keys at a time in the direction read.
struct Cursor<'a> {
    source: Source<'a>,
    /// The `(sort, key)` the next listing starts after.
    after: (i64, String),
    queued: VecDeque<Listed>,
    /// How many keys the next listing asks for: few first (a page is often one batch).
    ask: usize,
    exhausted: bool,
}

impl Cursor<'_> {
    /// The earliest time of the next batch, listing more when none is queued.
    fn peek(&mut self, store: &dyn Store, backward: bool) -> Result<Option<i64>> {
        if self.queued.is_empty() && !self.exhausted {
            let (owner, status) = match self.source {
                Source::Stream(key) => (None, Some(key)),
                Source::Group(key) => (Some(key), None),
            };
            let listed = store.scan(&Scan {
                kind: Batch::KIND,
                owner,
                status,
                descending: backward,
                after: Some((self.after.0, &self.after.1)),
                keys_only: true,
                limit: self.ask,
                ..Default::default()
            })?;
            self.exhausted = listed.len() < self.ask;
            self.ask = (self.ask * 4).min(1024);
            let listed: Vec<Listed> = (listed.into_iter())
                .filter_map(|(key, _)| Listed::parse(key))
                .collect();
            if let Some(last) = listed.last() {
                self.after = (last.earliest, last.key.clone());
            }
            self.queued = listed.into();
        }
        Ok(self.queued.front().map(|l| l.earliest))
    }
}

impl Logs {
    /// Reads a page of events from `sources` (see the module's documentation).
    pub fn read(&self, sources: &[Source], q: &Query) -> Result<Page> {
        // the listings start at the first batch that may hold an event in range: keys are never
        // empty, so `(t, "")` is before every batch that starts at `t`
        let start = if q.backward {
            q.to.timestamp.saturating_add(1)
        } else {
            q.from.timestamp.saturating_sub(SPAN_MS)
        };
        let mut cursors: Vec<Cursor> = (sources.iter())
            .map(|&source| Cursor {
                source,
                after: (start, String::new()),
                queued: VecDeque::new(),
                ask: 2,
                exhausted: false,
            })
            .collect();
        // the best `limit + 1` events found so far
        let mut found: BTreeMap<Position, Found> = BTreeMap::new();
        loop {
            let mut next: Option<(usize, i64)> = None;
            for (i, c) in cursors.iter_mut().enumerate() {
                if let Some(t) = c.peek(&*self.store, q.backward)? {
                    if next.is_none_or(|(_, n)| if q.backward { t > n } else { t < n }) {
                        next = Some((i, t));
                    }
                }
            }
            let Some((i, earliest)) = next else { break };
            // no event not read yet is on the near side of this bound
            let bound = if q.backward {
                earliest.saturating_add(SPAN_MS)
            } else {
                earliest
            };
            let beyond_range = if q.backward {
                bound < q.from.timestamp
            } else {
                earliest > q.to.timestamp
            };
            let farthest = if q.backward {
                found.first_key_value()
            } else {
                found.last_key_value()
            };
            let complete = found.len() > q.limit
                && farthest.is_some_and(|(p, _)| {
                    if q.backward {
                        p.timestamp > bound
                    } else {
                        p.timestamp < bound
                    }
                });
            if beyond_range || complete {
                break;
            }
            let Some(listed) = cursors[i].queued.pop_front() else {
                break;
            };
            // a batch wholly outside the range, or beyond the events found, stays unread
            let useless = if q.backward {
                listed.earliest > q.to.timestamp
                    || listed.latest < q.from.timestamp
                    || (found.len() > q.limit
                        && farthest.is_some_and(|(p, _)| listed.latest < p.timestamp))
            } else {
                listed.latest < q.from.timestamp
                    || listed.earliest > q.to.timestamp
                    || (found.len() > q.limit
                        && farthest.is_some_and(|(p, _)| listed.earliest > p.timestamp))
            };
            if useless {
                continue;
            }
            // deleted since it was listed (a retention sweep): nothing to read
            let Some(batch) = self.store.load::<Batch>(&listed.key)? else {
                continue;
            };
            let name = batch.stream_name().to_string();
            for (index, event) in batch.events.into_iter().enumerate() {
                let p = Position {
                    timestamp: event.timestamp,
                    seq: batch.seq,
                    index: index as u32,
                };
                if p < q.from || p >= q.to || !(q.keep)(&name, &event) {
                    continue;
                }
                let stream = name.clone();
                let seq = batch.seq;
                found.insert(
                    p,
                    Found {
                        stream,
                        seq,
                        index,
                        event,
                    },
                );
                if found.len() > q.limit + 1 {
                    if q.backward {
                        found.pop_first();
                    } else {
                        found.pop_last();
                    }
                }
            }
        }
        let more = found.len() > q.limit;
        if more {
            if q.backward {
                found.pop_first();
            } else {
                found.pop_last();
            }
        }
        Ok(Page {
            events: found.into_values().collect(),
            more,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Every page read forward or backward, of any size, in any range, with any filter, is the
    /// slice of all the events sorted by position that it should be, whatever order the events
    /// were written in and however their batches were cut.
    #[test]
    fn pages_are_slices_of_all_the_events_in_time_order() {
        let f = super::super::Fixture::new();
        let (store, logs, rt, scope) = (&f.store, &f.logs, &f.rt, &f.scope);
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let t0 = 1_800_000_000_000i64;
        rt.block_on(async {
            for n in 0..150 {
                let stream = ["a", "b", "c"][rng.gen_range(0..3)];
                // mostly short bursts, some stretched over minutes, some out of order
                // times on a coarse grid, so that many events of many batches share one
                let base = t0 + rng.gen_range(0..600) * 1_000;
                let spread = [10, 1_000, 200_000][rng.gen_range(0..3)];
                let lines: Vec<(i64, String)> = (0..rng.gen_range(1..40))
                    .map(|i| {
                        (
                            base + rng.gen_range(0..spread) / 250 * 250,
                            format!("{n}.{i}"),
                        )
                    })
                    .collect();
                logs.write(scope, "/g", stream, lines).await.unwrap();
            }
        });
        let g = logs.group(scope, "/g").unwrap();
        let batches: Vec<Batch> = store
            .list(Scan {
                owner: Some(&g.key()),
                ..Default::default()
            })
            .unwrap();
        for b in &batches {
            let latest = b.events.iter().map(|e| e.timestamp).max().unwrap();
            assert!(latest - b.earliest() <= SPAN_MS);
        }
        let mut all: Vec<Found> = (batches.iter())
            .flat_map(|b| {
                (b.events.iter().enumerate()).map(|(index, event)| Found {
                    stream: b.stream_name().to_string(),
                    seq: b.seq,
                    index,
                    event: event.clone(),
                })
            })
            .collect();
        all.sort_by_key(Found::position);
        assert!(all.len() > 600, "{}", all.len());
        let (g_key, b_key) = (g.key(), format!("{}\u{0}b", g.key()));
        let keep_all = |_: &str, _: &Event| true;
        let only_b = |s: &str, _: &Event| s == "b";
        let threes = |_: &str, e: &Event| e.message.contains('3');
        let keeps: [(&str, &Keep); 3] = [("all", &keep_all), ("b", &only_b), ("3", &threes)];
        let mid = all[all.len() / 3].position();
        let late = all[all.len() * 3 / 4].event.timestamp;
        for (name, keep) in keeps {
            for (from, to) in [(Position::FIRST, Position::LAST), (mid, Position::at(late))] {
                let expected: Vec<Position> = (all.iter())
                    .filter(|f| (keep)(&f.stream, &f.event))
                    .map(Found::position)
                    .filter(|p| (from..to).contains(p))
                    .collect();
                let mut sources = vec![vec![Source::Group(&g_key)]];
                if name == "b" {
                    sources.push(vec![Source::Stream(&b_key)]);
                }
                for sources in sources {
                    for limit in [1, 2, 7, 50, 10_000] {
                        for backward in [false, true] {
                            let mut got = Vec::new();
                            let (mut lo, mut hi) = (from, to);
                            loop {
                                let q = Query {
                                    from: lo,
                                    to: hi,
                                    backward,
                                    limit,
                                    keep,
                                };
                                let page = logs.read(&sources, &q).unwrap();
                                assert!(page.events.len() <= limit);
                                let mut at: Vec<Position> =
                                    page.events.iter().map(Found::position).collect();
                                assert!(at.windows(2).all(|w| w[0] < w[1]));
                                if backward {
                                    if let Some(p) = at.first() {
                                        hi = *p;
                                    }
                                    at.extend(got);
                                    got = at;
                                } else {
                                    if let Some(p) = at.last() {
                                        lo = p.next();
                                    }
                                    got.extend(at);
                                }
                                if !page.more {
                                    break;
                                }
                                assert_eq!(page.events.len(), limit);
                            }
                            let first_wrong = (got.iter().zip(&expected)).position(|(a, b)| a != b);
                            assert!(
                                got == expected,
                                "{name} {from:?}..{to:?} limit {limit} backward {backward}: \
                                 {} events for {}, first wrong at {first_wrong:?}",
                                got.len(),
                                expected.len()
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn positions_read_back_from_their_tokens() {
        for p in [Position::FIRST, Position::LAST, Position::at(5).next()] {
            assert_eq!(Position::parse(&p.token()), Some(p));
        }
        assert_eq!(Position::LAST.next(), Position::LAST);
        for bad in ["", "1_2", "1_2_3_4", "a_1_2", "1_-2_3"] {
            assert_eq!(Position::parse(bad), None, "{bad}");
        }
    }
}
