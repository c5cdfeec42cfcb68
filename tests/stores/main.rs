//! Integration tests against the real MongoDB-, Redis- and Elasticsearch-
//! compatible servers of the local stack (and PostgreSQL where a test needs
//! rows): each test gets its own MongoDB database, Redis key prefix and
//! Elasticsearch index prefix, removed when it passes and kept (and named on
//! stderr) when it fails. A test whose server is missing fails; none skips.

#[path = "../common/mod.rs"]
mod common;

mod support;

mod backup;
mod expire_redis;
mod leases;
mod mongo;
mod mongo_teardown;
mod output;
mod redis_cluster;
mod redis_layout;
mod reindex;
mod search_indices;
mod seed_mongo;
mod seed_redis;
mod status;
