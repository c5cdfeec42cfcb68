//! Partition maintenance, decided purely: given a table's policy, the time
//! and what the catalog says exists, [`plan::plan`] lists the actions
//! (create, move rows out of DEFAULT, detach, archive, drop). No I/O here;
//! `store::pg::rotate` reads the state and carries the actions out.
//! [`naming`] cuts, names and bounds partitions; [`archive`] names archive files and judges their sidecars, also purely;
//! `store::pg::archive` writes and reads them.

pub mod archive;
pub mod naming;
pub mod plan;

pub use naming::{partition_for, Period, RangePartition, PARTITIONED};

/// The names of the partitioned tables, for `Config::load`.
pub fn partitioned_tables() -> Vec<&'static str> {
    PARTITIONED.iter().map(|(table, _)| *table).collect()
}
