//! What may leave rez-db of a secret or of a user's file: nothing of the
//! first, and of the second only the field a message is about.
//!
//! Every message that leaves the process goes through [`redact`] once, at the
//! exits: `output::emit_error` (stderr, hints, the `--json` error), the error
//! stored in `rez_meta.operations` (`oplog`), and the log lines on stderr
//! ([`Redacting`], the tracing writer). Call sites do not have to remember it:
//! a driver message that echoes a password, or a file's first line that holds
//! a connection string, is scrubbed on its way out whatever built it.
//!
//! [`redact`] removes three things: the passwords of the configured URLs
//! ([`register`], called when the configuration is loaded), wherever they
//! appear; the password of any `scheme://user:password@` userinfo; and the
//! value of any `password=` / `token=`-like parameter. It errs on the side of
//! hiding too much: a message with a `***` too many is still a good message.
//!
//! [`field`] quotes a value taken from a file (a header field, a `--map`
//! target) for a message: escaped, so that a NUL or a newline cannot break the
//! message or the table that stores it, and cut to [`FIELD_CHARS`] characters.

use std::fmt;
use std::io::{self, Write};
use std::sync::RwLock;

use url::Url;

/// The characters of a file's value a message may quote.
pub const FIELD_CHARS: usize = 64;

/// Parameter names whose values are secrets, matched case-insensitively at the
/// end of a `NAME=` (so `PGPASSWORD=` and `sslpassword=` count too).
const SECRET_KEYS: [&str; 7] = [
    "password", "passwd", "pwd", "secret", "token", "api_key", "apikey",
];

/// The secrets of this process's configuration (URL passwords), once loaded.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers `secret` (as given, and percent-decoded) so that [`redact`]
/// hides it wherever it appears.
pub fn register(secret: &str) {
    if secret.is_empty() {
        return;
    }
    let decoded = percent_encoding::percent_decode_str(secret)
        .decode_utf8_lossy()
        .into_owned();
    let mut secrets = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    for s in [secret.to_string(), decoded] {
        if !s.is_empty() && !secrets.contains(&s) {
            secrets.push(s);
        }
    }
    // Longest first: a secret that contains another is hidden whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every secret it holds replaced by `***`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    {
        let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
        for s in secrets.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
    }
    hide_parameters(&hide_userinfo(&out))
}

/// Ends a URL-like token or a parameter's value.
fn ends_token(c: char) -> bool {
    c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '`' | '<' | '>')
}

/// `scheme://user:password@host` -> `scheme://user:***@host`, for every URL in `text`.
fn hide_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail.find(ends_token).unwrap_or(tail.len());
        let token = &tail[..end];
        // The userinfo ends at the token's last `@`; its password after the first `:`.
        match token
            .rfind('@')
            .and_then(|a| token[..a].find(':').map(|c| (c, a)))
        {
            Some((colon, at)) => {
                out.push_str(&token[..=colon]);
                out.push_str("***");
                out.push_str(&token[at..]);
            }
            None => out.push_str(token),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// `password=VALUE` (and the other [`SECRET_KEYS`]) -> `password=***`; a
/// quoted value is hidden up to its closing quote.
fn hide_parameters(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(eq) = lower[from..].find('=').map(|i| i + from) {
        from = eq + 1;
        let secret = SECRET_KEYS.iter().any(|k| lower[..eq].ends_with(k));
        if !secret {
            continue;
        }
        let value = &text[eq + 1..];
        let len = match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].find(q).map_or(value.len(), |i| i + 2),
            _ => value
                .find(|c: char| ends_token(c) || matches!(c, '&' | ';' | ')'))
                .unwrap_or(value.len()),
        };
        if len == 0 {
            continue;
        }
        out.push_str(&text[copied..=eq]);
        out.push_str("***");
        copied = eq + 1 + len;
        from = copied;
    }
    out.push_str(&text[copied..]);
    out
}

/// A value from a user's file or flag, as a message may quote it: control
/// characters escaped (`\0`, `\n`, ...), at most [`FIELD_CHARS`] characters,
/// then `…`.
pub fn field(value: &str) -> String {
    let mut out = String::new();
    for (n, c) in value.chars().enumerate() {
        if n == FIELD_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// A writer that redacts each write whole before passing it on: the log
/// lines' writer is `Redacting(std::io::stderr())`. The log formatter writes
/// one event per `write_all`, so a secret is never split between two writes.
pub struct Redacting<W: Write>(pub W);

impl<W: Write> Write for Redacting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = redact(&String::from_utf8_lossy(buf));
        self.0.write_all(text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The command line as it may be logged: every argument holding a URL shows
/// it redacted (`--database-url=postgres://u:***@h/db` or the separate value).
pub fn redact_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    args.into_iter()
        .map(|arg| match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") && value.contains("://") => {
                format!("{flag}={}", redact_value(value))
            }
            _ if arg.contains("://") => redact_value(&arg),
            _ => arg,
        })
        .collect()
}

fn redact_value(value: &str) -> String {
    RedactedUrl::parse(value).map_or_else(|_| "***".to_string(), |u| u.to_string())
}

/// A URL whose password (and any `password=` query parameter) never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct RedactedUrl(Url);

impl From<Url> for RedactedUrl {
    fn from(url: Url) -> Self {
        RedactedUrl(url)
    }
}

impl RedactedUrl {
    pub fn parse(value: &str) -> Result<Self, url::ParseError> {
        Url::parse(value).map(RedactedUrl)
    }

    /// The real URL, secrets included: only for handing to a driver.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The same server with another path (e.g. another database name).
    pub fn with_path(&self, path: &str) -> RedactedUrl {
        let mut url = self.0.clone();
        url.set_path(path);
        RedactedUrl(url)
    }

    /// `text` with this URL's password replaced by `***`, for driver messages
    /// that might echo it.
    pub fn scrub(&self, text: &str) -> String {
        match self.0.password() {
            Some(secret) if !secret.is_empty() => {
                let decoded = url::form_urlencoded::parse(secret.as_bytes())
                    .next()
                    .map(|(k, _)| k.into_owned())
                    .unwrap_or_default();
                let mut out = text.replace(secret, "***");
                if !decoded.is_empty() {
                    out = out.replace(&decoded, "***");
                }
                out
            }
            _ => text.to_string(),
        }
    }

    /// The secrets this URL holds: its password and the values of its secret
    /// query parameters, as written in the URL.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = self.0.password().map(str::to_string).into_iter().collect();
        out.extend(
            self.0
                .query_pairs()
                .filter(|(k, v)| is_secret_param(k) && !v.is_empty())
                .map(|(_, v)| v.into_owned()),
        );
        out
    }

    /// `host:port/path` without user, password or query: which server and
    /// database, for a label (the metrics file's `target`).
    pub fn server_and_database(&self) -> String {
        let host = self.0.host_str().unwrap_or_default();
        let port = self.0.port().map(|p| format!(":{p}")).unwrap_or_default();
        format!("{host}{port}{}", self.0.path())
    }

    /// The last path segment: the database name for PostgreSQL and MongoDB.
    pub fn database_name(&self) -> Option<String> {
        let name = self.0.path().trim_start_matches('/');
        (!name.is_empty()).then(|| {
            url::form_urlencoded::parse(name.as_bytes())
                .next()
                .map(|(k, _)| k.into_owned())
                .unwrap_or_else(|| name.to_string())
        })
    }
}

/// A query parameter whose value is a secret (`?password=...`).
fn is_secret_param(key: &str) -> bool {
    [
        "password",
        "pass",
        "secret",
        "token",
        "api_key",
        "sslpassword",
    ]
    .iter()
    .any(|s| key.eq_ignore_ascii_case(s))
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            let _ = shown.set_password(Some("***"));
        }
        if shown.query().is_some() {
            let pairs: Vec<(String, String)> = shown
                .query_pairs()
                .map(|(k, v)| {
                    let secret = is_secret_param(&k);
                    (
                        k.into_owned(),
                        if secret {
                            "***".to_string()
                        } else {
                            v.into_owned()
                        },
                    )
                })
                .collect();
            shown.query_pairs_mut().clear().extend_pairs(pairs);
        }
        f.write_str(shown.as_str())
    }
}

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedactedUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_never_prints() {
        let url =
            RedactedUrl::parse("postgres://app:s3cr3t@db:5432/rez?password=also&sslmode=require")
                .unwrap();
        let shown = format!("{url} {url:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("also"),
            "{shown}"
        );
        assert!(shown.contains("app:***@db:5432/rez"), "{shown}");
        assert!(shown.contains("sslmode=require"), "{shown}");
        assert!(url.expose().contains("s3cr3t"));
        assert_eq!(url.scrub("auth failed for s3cr3t"), "auth failed for ***");
        assert_eq!(url.secrets(), ["s3cr3t", "also"]);
    }

    #[test]
    fn logged_arguments_hide_passwords() {
        let args = [
            "rez-db",
            "migrate",
            "--database-url",
            "postgres://a:pw1@h/x",
            "--database-url=postgres://b:pw2@h/y",
            "not a :// url",
        ];
        let shown = redact_args(args.map(String::from)).join(" ");
        assert!(!shown.contains("pw1") && !shown.contains("pw2"), "{shown}");
        assert!(
            shown.contains("postgres://a:***@h/x")
                && shown.contains("--database-url=postgres://b:***@h/y"),
            "{shown}"
        );
        assert!(
            shown.ends_with("***"),
            "an unparsable URL-like value is hidden whole: {shown}"
        );
    }

    #[test]
    fn userinfo_passwords_are_hidden_in_any_text() {
        assert_eq!(
            redact("cannot reach postgres://u:s3cret@db:5432/rez: refused"),
            "cannot reach postgres://u:***@db:5432/rez: refused"
        );
        assert_eq!(
            redact("a,DATABASE_URL=mongodb+srv://app:p%40ss@cluster/x,b"),
            "a,DATABASE_URL=mongodb+srv://app:***@cluster/x,b"
        );
        // No userinfo: nothing to hide.
        assert_eq!(
            redact("http://127.0.0.1:9200/_cat"),
            "http://127.0.0.1:9200/_cat"
        );
        assert_eq!(redact("redis://:pw@h/0"), "redis://:***@h/0");
    }

    #[test]
    fn secret_parameters_are_hidden_whatever_their_case() {
        assert_eq!(
            redact("host=h password=hunter2 user=u"),
            "host=h password=*** user=u"
        );
        assert_eq!(
            redact("PGPASSWORD=x1\0TOKEN=abc&next=1"),
            "PGPASSWORD=***\0TOKEN=***&next=1"
        );
        assert_eq!(
            redact("password='with space' sslmode=require"),
            "password=*** sslmode=require"
        );
        assert_eq!(redact("password= x"), "password= x");
        assert_eq!(redact("no secrets = here"), "no secrets = here");
    }

    #[test]
    fn registered_secrets_are_hidden_anywhere() {
        register("Zq9%2Fregistered");
        let text = redact("auth failed: Zq9/registered and Zq9%2Fregistered");
        assert_eq!(text, "auth failed: *** and ***");
    }

    #[test]
    fn log_lines_are_redacted_as_they_are_written() {
        let mut out = Redacting(Vec::new());
        write!(out, "WARN retrying redis://:pw9@cache:6379/0 token=abc\n").unwrap();
        assert_eq!(
            String::from_utf8(out.0).unwrap(),
            "WARN retrying redis://:***@cache:6379/0 token=***\n"
        );
    }

    #[test]
    fn fields_are_escaped_and_cut() {
        assert_eq!(field("pho\0ne"), r"pho\0ne");
        assert_eq!(field("a\nb"), r"a\nb");
        let long = "x".repeat(100);
        assert_eq!(field(&long), format!("{}…", "x".repeat(64)));
        assert_eq!(field(&"é".repeat(64)), "é".repeat(64));
    }
}
