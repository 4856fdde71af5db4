//! # patterns — EventBridge event patterns
//!
//! Validation with AWS's rules and matching with AWS's semantics (those of event-ruler, the
//! library EventBridge uses): exact values, `prefix`, `suffix`, `equals-ignore-case`,
//! `wildcard`, `anything-but` (values, lists, prefix, suffix, equals-ignore-case, wildcard),
//! `numeric`, `exists`, `cidr`, `$or`, nested objects and arrays.
//!
//! ```
//! use patterns::Pattern;
//! let p = Pattern::parse(r#"{"source": ["aws.glue"], "detail": {"eventName": [{"prefix": "Create"}]}}"#).unwrap();
//! assert_eq!(p.matches_text(r#"{"source": "aws.glue", "detail": {"eventName": "CreateSession"}}"#), Ok(true));
//! assert_eq!(p.matches_text(r#"{"source": "aws.glue", "detail": {"eventName": "StopSession"}}"#), Ok(false));
//! ```

pub mod cidr;
pub mod filter_policy;
pub mod json;
pub mod matcher;
pub mod number;
pub mod pattern;
mod scan;
pub mod transform;
pub mod wildcard;

pub use matcher::RuleSet;
pub use pattern::{Flat, InvalidPattern, Pattern};
