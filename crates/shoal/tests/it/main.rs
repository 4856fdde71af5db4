//! Integration tests: the real `shoal` binary, driven as users and the conformance runner drive it.

mod cases;
mod cli;
mod conformance;
mod support;
