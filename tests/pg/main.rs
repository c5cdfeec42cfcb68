//! Integration tests against a real PostgreSQL (the local stack's, or
//! REZ_TEST_PG_URL): each test gets a throwaway database.

#[path = "../common/mod.rs"]
mod common;

mod constraints;
mod create;
mod migrate;
mod reference;
mod schema;
mod validate;
