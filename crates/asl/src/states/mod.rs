//! One module per state type. Each decides what its state does from the definition, the input
//! and the scope, with no I/O; the runner (or the server's executor) performs the decision.

pub mod choice;
pub mod fail;
pub mod item_reader;
pub mod map;
pub mod pass;
pub mod result_writer;
pub mod succeed;
pub mod task;
pub mod wait;
