//! Redis has no schema to create: provisioning records which layout file the
//! server is meant to follow (a hash under `rez-db:layout`), so `status` can tell
//! a Redis provisioned from an older layout.

use crate::config::StoreKind;
use crate::definitions::redis::Layout;
use crate::error::Result;
use crate::provision::{now, Action, ObjectRow, Options};
use crate::store::redis::{Redis, LAYOUT_KEY};

pub async fn apply(redis: &mut Redis, layout: &Layout, options: Options) -> Result<Vec<ObjectRow>> {
    let name = format!("{}{LAYOUT_KEY}", redis.prefix());
    let row = |action| ObjectRow::new(StoreKind::Redis, "layout", name.clone(), action);
    let current = redis.layout_marker().await?;
    let want_version = layout.version.to_string();
    let action = match &current {
        Some((v, sha, _)) if *v == want_version && *sha == layout.sha256 => {
            return Ok(vec![row(Action::Exists)])
        }
        Some(_) if options.dry_run => Action::WouldUpdate,
        None if options.dry_run => Action::WouldCreate,
        Some(_) => Action::Updated,
        None => Action::Created,
    };
    if !options.dry_run {
        redis
            .write_layout_marker(layout.version, &layout.sha256, &now())
            .await?;
    }
    let detail = match current {
        Some((v, _, at)) => format!("layout version {v} (recorded {at}) -> {want_version}"),
        None => format!("layout version {want_version}"),
    };
    Ok(vec![row(action).with_detail(detail)])
}
