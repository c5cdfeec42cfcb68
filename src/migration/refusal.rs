//! Whose doing a refused migration is: the file's, or the server's.
//!
//! When PostgreSQL refuses a migration's SQL, the migration's transaction is
//! rolled back, and the history records every earlier migration of the run
//! and not this one: the database is in an exact, known state, and the report
//! says how far the run got. Most refusals are about the file against this
//! database (a syntax error, a column that is not there, duplicates under a
//! new unique index, a `RAISE` of a prerequisite check): a finding, exit 1.
//! A few say nothing about the file: the role may not do it (`42501`), the
//! server ran out of something (class `53`), was stopped or cancelled the
//! statement (class `57`), or failed itself (classes `58`, `XX`). The same
//! file would pass on another server, as another role or later: the run
//! could not do its job, exit 5. So does a refusal without any SQLSTATE
//! (the connection broke): the server never judged the file.
//!
//! Pure: a rule over SQLSTATE codes, unit-tested. The operation that applies
//! migrations turns it into an exit code; this module never does I/O.

/// Who a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The file, against this database: a finding (exit 1).
    OfTheFile,
    /// The server, the role or the connection: the run could not do its job (exit 5).
    OfTheServer,
    /// A table lock not granted within `lock_timeout` (`55P03`): another
    /// session holds it; the same file passes once it is gone (exit 4, as
    /// every lock rez-db does not get).
    LockNotGranted,
    /// A statement cancelled by `statement_timeout` (`57014`): exit 3, as
    /// every statement that times out.
    TimedOut,
}

/// `insufficient_privilege`: the role may not do what the file asks.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// SQLSTATE classes that are about the server, never the statement:
/// insufficient resources, operator intervention, system error, internal error.
const SERVER_CLASSES: [&str; 4] = ["53", "57", "58", "XX"];

/// Who the refusal with `sqlstate` (None: no answer from the server) is about.
pub fn refusal(sqlstate: Option<&str>) -> Refusal {
    match sqlstate {
        None => Refusal::OfTheServer,
        Some("55P03") => Refusal::LockNotGranted,
        Some("57014") => Refusal::TimedOut,
        Some(INSUFFICIENT_PRIVILEGE) => Refusal::OfTheServer,
        Some(code) if SERVER_CLASSES.iter().any(|c| code.starts_with(c)) => Refusal::OfTheServer,
        Some(_) => Refusal::OfTheFile,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_not_granted_and_a_timeout_are_neither() {
        assert_eq!(refusal(Some("55P03")), Refusal::LockNotGranted);
        assert_eq!(refusal(Some("57014")), Refusal::TimedOut);
    }

    #[test]
    fn what_the_file_says_is_a_finding() {
        for code in [
            "42601", "42703", "42P07", "23505", "P0001", "22012", "42502",
        ] {
            assert_eq!(refusal(Some(code)), Refusal::OfTheFile, "{code}");
        }
    }

    #[test]
    fn what_the_server_or_the_role_says_is_not() {
        for code in ["42501", "53100", "53200", "57P01", "58030", "XX000"] {
            assert_eq!(refusal(Some(code)), Refusal::OfTheServer, "{code}");
        }
        assert_eq!(refusal(None), Refusal::OfTheServer);
    }
}
