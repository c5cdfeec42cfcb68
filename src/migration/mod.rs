//! PostgreSQL migrations as data: the embedded files ([`source`]), how to split
//! a no-transaction file into statements ([`split`]), the pure decision of
//! what to apply given what the database says it has applied ([`plan`]), and
//! whose doing a refused migration is ([`refusal`]).
//!
//! Nothing here does I/O; `store::pg::migrator` carries the plan out.

pub mod plan;
pub mod refusal;
pub mod source;
pub mod split;

pub use plan::{plan, Applied, Divergence, Plan, PlanError};
pub use refusal::{refusal, Refusal};
pub use source::{embedded, Migration, SourceError};
