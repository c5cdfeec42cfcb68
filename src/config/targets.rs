//! `targets:` in rez-db.yaml: named groups of PostgreSQL databases with the
//! same schema (shards, one database per tenant), which `--targets GROUP`
//! runs a command on, one database at a time or a few at once.
//!
//! ```yaml
//! targets:
//!   shards:
//!     - postgres://rez@db1:5432/rez_shard_0      # named rez_shard_0
//!     - name: eu
//!       url: postgres://rez@db2:5432/rez          # named eu
//! ```
//!
//! A target is named by its `name:`, else by the database its URL names. The
//! name labels the target in reports and the metrics file and is the folder a
//! `backup` of the group writes the target into, so it is a plain word
//! (letters, digits, `_`, `-`, `.`, not starting with `.`), and unique in its
//! group. Every URL is checked when the file is read, and an error names the
//! key (`targets.shards[2]`), never the URL, which may hold a password.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use url::Url;

use super::names;
use crate::error::CommandError;
use crate::secret::RedactedUrl;

/// One database of a group.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its label: `name:`, else the database name of its URL.
    pub name: String,
    pub url: RedactedUrl,
}

/// One entry of a group as written: a URL, or a name and a URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum Entry {
    Url(String),
    Named(NamedEntry),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NamedEntry {
    name: String,
    url: String,
}

/// The groups as written in the file.
pub(super) type RawGroups = BTreeMap<String, Vec<Entry>>;

/// The groups, every URL parsed and every name checked; `text` is the file's,
/// to name the line of a group in an error.
pub(super) fn checked(
    file: Option<&Path>,
    text: &str,
    raw: RawGroups,
) -> Result<BTreeMap<String, Vec<Target>>, CommandError> {
    let path = file.map(|p| p.display().to_string()).unwrap_or_default();
    let mut groups = BTreeMap::new();
    for (group, entries) in raw {
        let at = super::line_of(text, &group)
            .map(|l| format!(":{l}"))
            .unwrap_or_default();
        let wrong = |key: String, why: String| {
            CommandError::usage(format!("{path}{at}: key `{key}`: {why}"))
        };
        if entries.is_empty() {
            return Err(wrong(
                format!("targets.{group}"),
                "the group lists no database".into(),
            )
            .with_hint("list at least one PostgreSQL URL, or remove the group"));
        }
        let mut targets: Vec<Target> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            let key = format!("targets.{group}[{i}]");
            let (name, value) = match entry {
                Entry::Url(url) => (None, url),
                Entry::Named(NamedEntry { name, url }) => (Some(name), url),
            };
            let url = parse(&value).map_err(|why| {
                wrong(key.clone(), why).with_hint(
                    "each target is a URL like postgres://user:password@host:5432/name, \
                     or `name: NAME` and `url: URL`",
                )
            })?;
            let name = match name {
                Some(name) => name,
                None => url.database_name().unwrap_or_default(),
            };
            check_name(&name).map_err(|why| {
                wrong(key.clone(), why)
                    .with_hint("name the target with `name: NAME` and `url: URL`")
            })?;
            if let Some(first) = targets.iter().position(|t| t.name == name) {
                return Err(wrong(
                    key,
                    format!("the name `{name}` is already that of targets.{group}[{first}]"),
                )
                .with_hint("give one of them another name with `name: NAME` and `url: URL`"));
            }
            targets.push(Target { name, url });
        }
        groups.insert(group, targets);
    }
    Ok(groups)
}

/// A PostgreSQL URL naming its database; the reason why not, without the URL.
fn parse(value: &str) -> Result<RedactedUrl, String> {
    names::pg_database(value).map_err(|why| format!("invalid PostgreSQL database: {why}"))?;
    match Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "postgres" | "postgresql") => Ok(RedactedUrl::from(url)),
        Ok(url) => Err(format!(
            "invalid URL: scheme `{}` is not one of postgres, postgresql",
            url.scheme()
        )),
        Err(e) => Err(format!("invalid URL: {e}")),
    }
}

/// A target's name labels rows and metrics and names a backup folder: a
/// plain word.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the target has no name (its URL names no database)".into());
    }
    if name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!(
            "the target name `{}` is not a plain word (letters, digits, _ - . and not \
             starting with .)",
            crate::secret::field(name)
        ));
    }
    Ok(())
}

/// The group called `name`; a usage error listing the known groups otherwise.
pub fn group<'a>(
    groups: &'a BTreeMap<String, Vec<Target>>,
    name: &str,
    file: Option<&Path>,
) -> Result<&'a [Target], CommandError> {
    if let Some(targets) = groups.get(name) {
        return Ok(targets);
    }
    let place = file
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "no configuration file".to_string());
    let known: Vec<&str> = groups.keys().map(String::as_str).collect();
    Err(
        CommandError::usage(format!("unknown target group `{name}` ({place})")).with_hint(
            if known.is_empty() {
                "define it under `targets:` in rez-db.yaml: `targets: { NAME: [URL, URL] }`"
                    .to_string()
            } else {
                format!("known target groups: {}", known.join(", "))
            },
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn load(text: &str) -> Result<BTreeMap<String, Vec<Target>>, CommandError> {
        let raw: BTreeMap<String, RawGroups> = serde_norway::from_str(text).unwrap();
        checked(
            Some(Path::new("rez-db.yaml")),
            text,
            raw.into_values().next().unwrap(),
        )
    }

    #[test]
    fn targets_are_named_by_their_database_or_their_name() {
        let groups = load(
            "targets:\n  shards:\n    - postgres://u:pw@h:5432/rez_0\n    - name: eu\n      url: postgresql://h/rez\n",
        )
        .unwrap();
        let names: Vec<&str> = groups["shards"].iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["rez_0", "eu"]);
        assert_eq!(
            groups["shards"][0].url.to_string(),
            "postgres://u:***@h:5432/rez_0"
        );
    }

    #[test]
    fn a_bad_url_is_named_by_its_key_and_never_shown() {
        let err = load(
            "targets:\n  shards:\n    - postgres://h/a\n    - postgres://h/b\n    - mysql://u:hunter2@h/c\n",
        )
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage);
        let text = err.to_string();
        assert!(
            text.contains("rez-db.yaml:2: key `targets.shards[2]`"),
            "{text}"
        );
        assert!(text.contains("scheme `mysql`"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn names_are_plain_words_unique_in_their_group() {
        let err =
            load("targets:\n  t:\n    - postgres://h/a\n    - postgres://other/a\n").unwrap_err();
        assert!(
            err.message.contains("`targets.t[1]`")
                && err.message.contains("already that of targets.t[0]"),
            "{err}"
        );
        let err =
            load("targets:\n  t:\n    - name: ../x\n      url: postgres://h/a\n").unwrap_err();
        assert!(err.message.contains("not a plain word"), "{err}");
        let err = load("targets:\n  t: []\n").unwrap_err();
        assert!(err.message.contains("lists no database"), "{err}");
    }

    #[test]
    fn an_unknown_group_lists_the_known_ones() {
        let groups =
            load("targets:\n  shards: [postgres://h/a]\n  tenants: [postgres://h/b]\n").unwrap();
        let err = group(&groups, "shard", None).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage);
        assert!(
            err.to_string()
                .contains("known target groups: shards, tenants"),
            "{err}"
        );
        assert_eq!(group(&groups, "tenants", None).unwrap()[0].name, "b");
    }
}
