//! Integration tests against a real PostgreSQL (the local stack's, or
//! REZ_TEST_PG_URL): each test gets a throwaway database.

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod backup;
mod constraints;
mod create;
mod exit_codes;
mod expire;
mod import;
mod import_dialects;
mod import_inputs;
mod import_legacy;
mod import_phase3;
mod locks;
mod metrics;
mod migrate;
mod migrate_diff;
mod migrate_workflow;
mod migrations_dir;
mod output;
mod reference;
mod rotate;
mod schema;
mod seed;
mod snapshot_cache;
mod targets;
mod validate;
