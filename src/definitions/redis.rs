//! `redis-layout.toml`: the key patterns of the platform's Redis, each with its
//! type, TTL and maximum TTL; and the pure rules `validate` applies to one live
//! key (its name, TYPE and TTL).

use serde::{Deserialize, Serialize};

use super::{file_error, line_at, sha256};
use crate::error::CommandError;

const FIX: &str =
    "see redis-layout.toml for the format: version, then [[key]] tables with pattern, \
                   type, ttl_secs, max_ttl_secs, owner, notes";

/// The TYPE reply of a key. Geo sets are sorted sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    String,
    Hash,
    List,
    Set,
    Zset,
    Stream,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::String => "string",
            KeyType::Hash => "hash",
            KeyType::List => "list",
            KeyType::Set => "set",
            KeyType::Zset => "zset",
            KeyType::Stream => "stream",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPattern {
    pub pattern: String,
    #[serde(rename = "type")]
    pub key_type: KeyType,
    /// What writers set; `None`: the key does not expire.
    pub ttl_secs: Option<u64>,
    /// A live TTL above this is a violation.
    pub max_ttl_secs: Option<u64>,
    pub owner: String,
    #[serde(default)]
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub version: u32,
    pub file: String,
    pub sha256: String,
    pub keys: Vec<KeyPattern>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayout {
    version: u32,
    key: Vec<KeyPattern>,
}

/// One piece of a pattern: literal text, or a `<placeholder>` (one or more characters).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Literal(&'a str),
    Placeholder,
}

fn tokens(pattern: &str) -> Result<Vec<Token<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while !rest.is_empty() {
        match rest.find('<') {
            Some(0) => {
                let end = rest.find('>').ok_or("a `<` has no closing `>`")?;
                if end == 1 {
                    return Err("an empty `<>` placeholder".into());
                }
                if matches!(out.last(), Some(Token::Placeholder)) {
                    return Err("two placeholders in a row cannot be told apart".into());
                }
                out.push(Token::Placeholder);
                rest = &rest[end + 1..];
            }
            Some(i) => {
                out.push(Token::Literal(&rest[..i]));
                rest = &rest[i..];
            }
            None => {
                out.push(Token::Literal(rest));
                rest = "";
            }
        }
    }
    Ok(out)
}

fn matches(tokens: &[Token<'_>], key: &str) -> bool {
    match tokens.split_first() {
        None => key.is_empty(),
        Some((Token::Literal(lit), rest)) => {
            key.strip_prefix(lit).is_some_and(|k| matches(rest, k))
        }
        // A placeholder takes one or more characters; try every split (patterns are short).
        Some((Token::Placeholder, rest)) => (1..=key.len())
            .filter(|&i| key.is_char_boundary(i))
            .any(|i| matches(rest, &key[i..])),
    }
}

impl KeyPattern {
    pub fn matches(&self, key: &str) -> bool {
        tokens(&self.pattern).is_ok_and(|t| matches(&t, key))
    }

    /// The Redis Cluster hash tag of the pattern, if any (`{<user_id>}`).
    pub fn hash_tag(&self) -> Option<&str> {
        let open = self.pattern.find('{')?;
        let close = open + self.pattern[open..].find('}')?;
        (close > open + 1).then(|| &self.pattern[open..=close])
    }
}

/// One broken layout rule for one key; `check` is the validate check id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFinding {
    pub check: &'static str,
    pub expected: String,
    pub actual: String,
}

pub const CHECK_TYPE: &str = "redis.type";
pub const CHECK_TTL_MISSING: &str = "redis.ttl_missing";
pub const CHECK_TTL_MAX: &str = "redis.ttl_max";
pub const CHECK_UNKNOWN: &str = "redis.unknown_prefix";

impl Layout {
    pub fn parse(path: &str, text: &str) -> Result<Layout, CommandError> {
        let raw: RawLayout = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_at(text, s.start));
            file_error(path, line, e.message(), FIX)
        })?;
        for (i, k) in raw.key.iter().enumerate() {
            let line = text
                .match_indices(&format!("pattern = \"{}\"", k.pattern))
                .next()
                .map(|(at, _)| line_at(text, at));
            let bad = |message: String, fix: &str| {
                file_error(
                    path,
                    line,
                    format!("key pattern `{}`: {message}", k.pattern),
                    fix,
                )
            };
            let toks = tokens(&k.pattern)
                .map_err(|e| bad(e, "placeholders are `<name>`, one at a time"))?;
            if !matches!(toks.first(), Some(Token::Literal(_))) {
                return Err(bad(
                    "starts with a placeholder".into(),
                    "begin every pattern with a literal prefix (`session:`), so it can be told apart and scanned",
                ));
            }
            if let (Some(ttl), Some(max)) = (k.ttl_secs, k.max_ttl_secs) {
                if ttl > max {
                    return Err(bad(
                        format!("ttl_secs {ttl} is above max_ttl_secs {max}"),
                        "raise max_ttl_secs or lower ttl_secs",
                    ));
                }
            }
            if k.max_ttl_secs.is_some() && k.ttl_secs.is_none() {
                return Err(bad(
                    "has max_ttl_secs but no ttl_secs".into(),
                    "a key with a maximum TTL must expire: set ttl_secs",
                ));
            }
            if raw.key[..i].iter().any(|o| o.pattern == k.pattern) {
                return Err(bad(
                    "is declared twice".into(),
                    "keep one [[key]] per pattern",
                ));
            }
        }
        Ok(Layout {
            version: raw.version,
            file: path.to_string(),
            sha256: sha256(text),
            keys: raw.key,
        })
    }

    /// The first pattern `key` matches (file order is precedence).
    pub fn classify(&self, key: &str) -> Option<&KeyPattern> {
        self.keys.iter().find(|k| k.matches(key))
    }

    /// The layout rules `key` breaks, given its TYPE and its TTL in seconds
    /// (`None`: no expiry). `key` is without the configured prefix.
    pub fn check_key(&self, key: &str, key_type: &str, ttl: Option<u64>) -> Vec<KeyFinding> {
        let Some(p) = self.classify(key) else {
            return vec![KeyFinding {
                check: CHECK_UNKNOWN,
                expected: "a key matching a pattern of redis-layout.toml".into(),
                actual: format!("{key_type}, no pattern"),
            }];
        };
        let mut out = Vec::new();
        if key_type != p.key_type.as_str() {
            out.push(KeyFinding {
                check: CHECK_TYPE,
                expected: format!("{} ({})", p.key_type.as_str(), p.pattern),
                actual: key_type.to_string(),
            });
        }
        match (p.ttl_secs, ttl) {
            (Some(want), None) => out.push(KeyFinding {
                check: CHECK_TTL_MISSING,
                expected: format!("a TTL (writers set {want}s; {})", p.pattern),
                actual: "no TTL: never expires".into(),
            }),
            (_, Some(live)) => {
                if let Some(max) = p.max_ttl_secs.filter(|&m| live > m) {
                    out.push(KeyFinding {
                        check: CHECK_TTL_MAX,
                        expected: format!("TTL <= {max}s ({})", p.pattern),
                        actual: format!("TTL {live}s"),
                    });
                }
            }
            (None, None) => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout::parse("redis-layout.toml", include_str!("../../redis-layout.toml")).unwrap()
    }

    #[test]
    fn patterns_match_the_reference_examples() {
        let l = layout();
        let p = |k: &str| l.classify(k).map(|p| p.pattern.as_str());
        assert_eq!(p("session:ab12"), Some("session:<token_hash>"));
        assert_eq!(
            p("cache:api:stores:nearby:28.6139:77.2090"),
            Some("cache:api:<endpoint>:<params_hash>")
        );
        assert_eq!(
            p("ratelimit:{user_123}:api_calls"),
            Some("ratelimit:{<user_id>}:<action>")
        );
        assert_eq!(
            p("leaderboard:{top_earners}:weekly"),
            Some("leaderboard:{<type>}:<period>")
        );
        assert_eq!(p("geo:stores:{mumbai}"), Some("geo:stores:{<city>}"));
        assert_eq!(p("lock:wallet:{u1}"), Some("lock:wallet:{<user_id>}"));
        assert_eq!(
            p("ratelimit:user_123:api_calls"),
            None,
            "the hash tag is part of the layout"
        );
        assert_eq!(p("sessions:x"), None);
        assert_eq!(p("session:"), None, "a placeholder is never empty");
    }

    #[test]
    fn rules_for_one_key() {
        let l = layout();
        assert!(l.check_key("session:a", "hash", Some(100)).is_empty());
        let f = l.check_key("session:a", "string", None);
        assert_eq!(
            f.iter().map(|f| f.check).collect::<Vec<_>>(),
            [CHECK_TYPE, CHECK_TTL_MISSING]
        );
        let f = l.check_key("lock:wallet:{u}", "string", Some(3600));
        assert_eq!(f[0].check, CHECK_TTL_MAX);
        assert_eq!(f[0].actual, "TTL 3600s");
        assert!(l.check_key("geo:stores:{pune}", "zset", None).is_empty());
        assert_eq!(l.check_key("tmp:x", "string", None)[0].check, CHECK_UNKNOWN);
    }

    #[test]
    fn hash_tags_colocate_what_is_used_together() {
        let l = layout();
        let tag = |pattern: &str| {
            l.keys
                .iter()
                .find(|k| k.pattern == pattern)
                .and_then(|k| k.hash_tag())
        };
        assert_eq!(
            tag("ratelimit:{<user_id>}:<action>"),
            tag("lock:wallet:{<user_id>}")
        );
        assert_eq!(tag("geo:stores:{<city>}"), tag("offers:active:{<city>}"));
        assert_eq!(tag("cache:api:<endpoint>:<params_hash>"), None);
    }

    #[test]
    fn bad_layouts_name_line_and_fix() {
        let err = Layout::parse("l.toml", "version = 1\n\n[[key]]\npattern = \"a:<x>\"\ntype = \"hash\"\nttl = 5\nowner = \"o\"\n").unwrap_err();
        assert!(err.message.starts_with("l.toml:6"), "{}", err.message);
        assert!(err.message.contains("ttl"), "{}", err.message);
        let err = Layout::parse("l.toml", "version = 1\n[[key]]\npattern = \"a:<x>\"\ntype = \"hash\"\nttl_secs = 50\nmax_ttl_secs = 5\nowner = \"o\"\n").unwrap_err();
        assert!(
            err.message.starts_with("l.toml:3: key pattern `a:<x>`"),
            "{}",
            err.message
        );
        let err = Layout::parse(
            "l.toml",
            "version = 1\n[[key]]\npattern = \"<x>:a\"\ntype = \"hash\"\nowner = \"o\"\n",
        )
        .unwrap_err();
        assert!(
            err.message.contains("starts with a placeholder"),
            "{}",
            err.message
        );
        let err = Layout::parse(
            "l.toml",
            "version = 1\n[[key]]\npattern = \"a\"\ntype = \"geo\"\nowner = \"o\"\n",
        )
        .unwrap_err();
        assert!(err.message.starts_with("l.toml:4"), "{}", err.message);
    }
}
