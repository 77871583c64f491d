//! Evaluation of compiled rules against events: the per-event field cache,
//! the matcher tree, the cross-rule prefilter and date-part extraction.

pub mod event;
pub mod matcher;
pub mod needles;
pub mod prefilter;
pub mod time;
