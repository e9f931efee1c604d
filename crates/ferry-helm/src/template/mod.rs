//! Go's text/template: parser and evaluator.

pub mod exec;
pub mod number;
pub mod parse;
