//! How an operation tells how far it got, without drawing anything: it calls
//! a [`Progress`] the face hands it (`output::progress::Bars` draws on a
//! terminal; [`Silent`] for tests and nested operations).
//!
//! Core: a trait and nothing else; no I/O, no async.

/// What a phase counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Steps of a list (migrations, checks, stores).
    Steps,
    /// Bytes of a file read.
    Bytes,
    /// Items of a kind (`users`, `docs`), shown with their rate and time left.
    Items(&'static str),
}

/// Receives an operation's progress. Every method does nothing by default.
pub trait Progress: Sync {
    /// A new phase of `len` units (0: unknown), replacing the last one.
    fn begin(&self, _len: u64, _unit: Unit) {}
    /// `by` more units done.
    fn advance(&self, _by: u64) {}
    /// What is being worked on now (a check id, a file name).
    fn note(&self, _what: &str) {}
    /// The phase is over: nothing more is drawn for it.
    fn end(&self) {}
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}
