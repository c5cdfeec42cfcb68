//! The reference seed files as typed, checked records: app settings, the
//! category tree, loyalty tiers and colleges.
//!
//! Numbers that are money, rates or coordinates are read as the exact text
//! written in the file and parsed as decimals: a YAML float never touches
//! them. Every problem is reported with the file, line and key, and nothing
//! here talks to a database (`store::pg::reference` upserts the records).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::domain::money::Money;
use crate::domain::vocabulary;
use crate::error::CommandError;

/// Everything `rez-db seed` upserts, in load order.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceData {
    pub settings: Vec<Setting>,
    /// Parents before children (pre-order).
    pub categories: Vec<Category>,
    pub tiers: Vec<LoyaltyTier>,
    pub colleges: Vec<College>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    /// One of `vocabulary::allowed("app_settings", "setting_type")`.
    pub setting_type: String,
    /// The JSON text stored in `setting_value` (JSONB).
    pub value_json: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub parent_slug: Option<String>,
    /// Depth in the tree: 0 = top.
    pub level: i32,
    /// Position among its siblings.
    pub display_order: i32,
    pub featured: bool,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoyaltyTier {
    pub level: i32,
    pub name: String,
    pub min_spend: Money,
    pub min_orders: i32,
    pub coin_multiplier: Decimal,
    pub exclusive_offers: bool,
    pub priority_support: bool,
    pub free_delivery: bool,
    pub color: Option<String>,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct College {
    pub college_code: String,
    pub name: String,
    pub short_name: Option<String>,
    pub address_line1: Option<String>,
    pub city: String,
    pub state: String,
    pub pincode: Option<String>,
    pub latitude: Option<Decimal>,
    pub longitude: Option<Decimal>,
    pub website: Option<String>,
    pub contact_email: Option<String>,
    pub total_students: Option<i32>,
    pub partnership_status: String,
    pub partnership_start_date: Option<NaiveDate>,
    pub email_domain: Option<String>,
    pub student_verification_required: bool,
    pub active: bool,
}

/// The four seed files, by the table they fill.
pub const APP_SETTINGS: &str = "app_settings.yaml";
pub const CATEGORIES: &str = "categories.yaml";
pub const LOYALTY_TIERS: &str = "loyalty_tiers.yaml";
pub const COLLEGES: &str = "colleges.yaml";
pub const ALL: [&str; 4] = [APP_SETTINGS, CATEGORIES, LOYALTY_TIERS, COLLEGES];

/// One seed file's text and the name to show in messages.
#[derive(Debug, Clone)]
pub struct SeedFile {
    /// `seeds/app_settings.yaml` (embedded) or the path under `--seeds-dir`.
    pub shown: String,
    pub text: String,
}

/// Checks the four files, read by the caller (`seed::files`), in the order
/// of [`ALL`]: settings, categories, tiers, colleges.
pub fn parse(files: [&SeedFile; 4]) -> Result<ReferenceData, CommandError> {
    let [settings, categories, tiers, colleges] = files;
    Ok(ReferenceData {
        settings: parse_settings(settings)?,
        categories: parse_categories(categories)?,
        tiers: parse_tiers(tiers)?,
        colleges: parse_colleges(colleges)?,
    })
}

/// A problem in a seed file, placed as precisely as the file allows.
fn problem(file: &SeedFile, line: Option<usize>, key: &str, message: &str) -> CommandError {
    let at = line.map(|l| format!(":{l}")).unwrap_or_default();
    CommandError::usage(format!("{}{at}: {key}: {message}", file.shown)).with_hint(
        "the comment at the top of the file describes its entries; fix the value and run `rez-db seed` again",
    )
}

/// Parses YAML, turning serde's error into one that names file, line and column.
fn yaml<T: serde::de::DeserializeOwned>(file: &SeedFile) -> Result<T, CommandError> {
    serde_norway::from_str(&file.text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        CommandError::usage(format!("{}{at}: {e}", file.shown))
            .with_hint("the comment at the top of the file describes its entries and their keys")
    })
}

/// The 1-based line of the entry whose `key_field` is `value`, or of its
/// `field` when given (searched until the next entry's `key_field`).
fn line_of(text: &str, key_field: &str, value: &str, field: Option<&str>) -> Option<usize> {
    let strip = |line: &str| -> String { line.trim_start().trim_start_matches("- ").to_string() };
    let key_prefix = format!("{key_field}:");
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| {
        let l = strip(l);
        l.strip_prefix(&key_prefix)
            .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'') == value)
            .unwrap_or(false)
    })?;
    let Some(field) = field else {
        return Some(start + 1);
    };
    let field_prefix = format!("{field}:");
    lines[start..]
        .iter()
        .enumerate()
        .take_while(|(i, l)| *i == 0 || !strip(l).starts_with(&key_prefix))
        .find(|(_, l)| strip(l).starts_with(&field_prefix))
        .map(|(i, _)| start + i + 1)
        .or(Some(start + 1))
}

fn decimal(text: &str) -> Option<Decimal> {
    Decimal::from_str_exact(text.trim()).ok()
}

fn check_unique<'a>(
    file: &SeedFile,
    key_field: &str,
    keys: impl Iterator<Item = &'a str>,
) -> Result<(), CommandError> {
    let mut seen = std::collections::BTreeSet::new();
    for key in keys {
        if !seen.insert(key) {
            let line = file
                .text
                .lines()
                .enumerate()
                .filter(|(_, l)| {
                    l.trim_start()
                        .trim_start_matches("- ")
                        .strip_prefix(&format!("{key_field}:"))
                        .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'') == key)
                        .unwrap_or(false)
                })
                .nth(1)
                .map(|(i, _)| i + 1);
            return Err(problem(
                file,
                line,
                &format!("{key_field} `{key}`"),
                "appears twice; each entry needs its own",
            ));
        }
    }
    Ok(())
}

fn allowed(
    file: &SeedFile,
    line: Option<usize>,
    key: &str,
    (table, column): (&str, &str),
    value: &str,
) -> Result<(), CommandError> {
    let values = vocabulary::allowed(table, column).unwrap_or(&[]);
    if values.contains(&value) {
        return Ok(());
    }
    Err(problem(
        file,
        line,
        key,
        &format!("`{value}` is not one of: {}", values.join(", ")),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSetting {
    key: String,
    #[serde(rename = "type")]
    setting_type: String,
    /// The scalar exactly as written (YAML would read 0.5 as a float).
    value: String,
    description: Option<String>,
}

pub fn parse_settings(file: &SeedFile) -> Result<Vec<Setting>, CommandError> {
    let raw: Vec<RawSetting> = yaml(file)?;
    check_unique(file, "key", raw.iter().map(|s| s.key.as_str()))?;
    raw.into_iter()
        .map(|s| {
            let at = |field: &str| line_of(&file.text, "key", &s.key, Some(field));
            let key = format!("key `{}`", s.key);
            allowed(
                file,
                at("type"),
                &key,
                ("app_settings", "setting_type"),
                &s.setting_type,
            )?;
            let bad = |what: &str| {
                problem(
                    file,
                    at("value"),
                    &key,
                    &format!("value `{}` is not {what}", s.value),
                )
            };
            let value_json = match s.setting_type.as_str() {
                "number" => decimal(&s.value)
                    .map(|d| d.to_string())
                    .ok_or_else(|| bad("a decimal number (like 0.5 or 100)"))?,
                "boolean" => match s.value.as_str() {
                    "true" | "false" => s.value.clone(),
                    _ => return Err(bad("true or false")),
                },
                "json" => {
                    serde_json::from_str::<serde_json::Value>(&s.value)
                        .map_err(|_| bad("a JSON document (write it as a quoted YAML string)"))?;
                    s.value.clone()
                }
                _ => serde_json::to_string(&s.value).expect("a string always serializes"),
            };
            Ok(Setting {
                key: s.key,
                setting_type: s.setting_type,
                value_json,
                description: s.description,
            })
        })
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    slug: String,
    name: String,
    description: Option<String>,
    #[serde(default)]
    featured: bool,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default)]
    children: Vec<RawCategory>,
}

fn yes() -> bool {
    true
}

pub fn parse_categories(file: &SeedFile) -> Result<Vec<Category>, CommandError> {
    let roots: Vec<RawCategory> = yaml(file)?;
    let mut out = Vec::new();
    flatten(roots, None, 0, &mut out);
    check_unique(file, "slug", out.iter().map(|c| c.slug.as_str()))?;
    for c in &out {
        let slug_ok = !c.slug.is_empty()
            && c.slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !slug_ok {
            return Err(problem(
                file,
                line_of(&file.text, "slug", &c.slug, None),
                &format!("slug `{}`", c.slug),
                "a slug is lowercase letters, digits and '-'",
            ));
        }
    }
    Ok(out)
}

fn flatten(nodes: Vec<RawCategory>, parent: Option<&str>, level: i32, out: &mut Vec<Category>) {
    for (position, node) in nodes.into_iter().enumerate() {
        let slug = node.slug.clone();
        out.push(Category {
            slug: node.slug,
            name: node.name,
            description: node.description,
            parent_slug: parent.map(str::to_string),
            level,
            display_order: position as i32,
            featured: node.featured,
            active: node.active,
        });
        flatten(node.children, Some(&slug), level + 1, out);
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    level: i32,
    name: String,
    min_spend: String,
    min_orders: i32,
    coin_multiplier: String,
    #[serde(default)]
    exclusive_offers: bool,
    #[serde(default)]
    priority_support: bool,
    #[serde(default)]
    free_delivery: bool,
    color: Option<String>,
    #[serde(default = "yes")]
    active: bool,
}

pub fn parse_tiers(file: &SeedFile) -> Result<Vec<LoyaltyTier>, CommandError> {
    let raw: Vec<RawTier> = yaml(file)?;
    let levels: Vec<String> = raw.iter().map(|t| t.level.to_string()).collect();
    check_unique(file, "level", levels.iter().map(String::as_str))?;
    raw.into_iter()
        .map(|t| {
            let level = t.level.to_string();
            let at = |field: &str| line_of(&file.text, "level", &level, Some(field));
            let key = format!("level {}", t.level);
            let min_spend = t
                .min_spend
                .parse::<Money>()
                .ok()
                .filter(|m| !m.is_negative())
                .ok_or_else(|| {
                    problem(
                        file,
                        at("min_spend"),
                        &key,
                        &format!(
                            "min_spend `{}` is not a non-negative amount in rupees with at most two decimals",
                            t.min_spend
                        ),
                    )
                })?;
            // NUMERIC(3, 2): 0.00 to 9.99.
            let coin_multiplier = decimal(&t.coin_multiplier)
                .filter(|d| d.scale() <= 2 && *d >= Decimal::ZERO && *d < Decimal::TEN)
                .ok_or_else(|| {
                    problem(
                        file,
                        at("coin_multiplier"),
                        &key,
                        &format!(
                            "coin_multiplier `{}` is not a decimal from 0.00 to 9.99",
                            t.coin_multiplier
                        ),
                    )
                })?;
            if t.min_orders < 0 {
                return Err(problem(
                    file,
                    at("min_orders"),
                    &key,
                    "min_orders cannot be negative",
                ));
            }
            let color_ok = t.color.as_deref().is_none_or(|c| {
                c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
            });
            if !color_ok {
                return Err(problem(
                    file,
                    at("color"),
                    &key,
                    "color is a hex colour like \"#C0C0C0\" (quoted: # starts a YAML comment)",
                ));
            }
            Ok(LoyaltyTier {
                level: t.level,
                name: t.name,
                min_spend,
                min_orders: t.min_orders,
                coin_multiplier,
                exclusive_offers: t.exclusive_offers,
                priority_support: t.priority_support,
                free_delivery: t.free_delivery,
                color: t.color,
                active: t.active,
            })
        })
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollege {
    college_code: String,
    name: String,
    short_name: Option<String>,
    address_line1: Option<String>,
    city: String,
    state: String,
    pincode: Option<String>,
    latitude: Option<String>,
    longitude: Option<String>,
    website: Option<String>,
    contact_email: Option<String>,
    total_students: Option<i32>,
    #[serde(default = "pending")]
    partnership_status: String,
    partnership_start_date: Option<String>,
    email_domain: Option<String>,
    #[serde(default = "yes")]
    student_verification_required: bool,
    #[serde(default = "yes")]
    active: bool,
}

fn pending() -> String {
    "pending".to_string()
}

pub fn parse_colleges(file: &SeedFile) -> Result<Vec<College>, CommandError> {
    let raw: Vec<RawCollege> = yaml(file)?;
    check_unique(
        file,
        "college_code",
        raw.iter().map(|c| c.college_code.as_str()),
    )?;
    raw.into_iter()
        .map(|c| {
            let code = c.college_code.clone();
            let at = |field: &str| line_of(&file.text, "college_code", &code, Some(field));
            let key = format!("college_code `{code}`");
            allowed(
                file,
                at("partnership_status"),
                &key,
                ("colleges", "partnership_status"),
                &c.partnership_status,
            )?;
            // NUMERIC(10, 8) / NUMERIC(11, 8), within the globe.
            let coordinate = |field: &str, text: &Option<String>, limit: i64| {
                text.as_deref()
                    .map(|t| {
                        decimal(t)
                            .filter(|d| d.scale() <= 8 && d.abs() <= Decimal::from(limit))
                            .ok_or_else(|| {
                                problem(
                                    file,
                                    at(field),
                                    &key,
                                    &format!("{field} `{t}` is not a decimal within ±{limit} degrees with at most 8 places"),
                                )
                            })
                    })
                    .transpose()
            };
            let latitude = coordinate("latitude", &c.latitude, 90)?;
            let longitude = coordinate("longitude", &c.longitude, 180)?;
            let partnership_start_date = c
                .partnership_start_date
                .as_deref()
                .map(|d| {
                    NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                        problem(
                            file,
                            at("partnership_start_date"),
                            &key,
                            &format!("partnership_start_date `{d}` is not a date like 2025-01-31"),
                        )
                    })
                })
                .transpose()?;
            Ok(College {
                college_code: c.college_code,
                name: c.name,
                short_name: c.short_name,
                address_line1: c.address_line1,
                city: c.city,
                state: c.state,
                pincode: c.pincode,
                latitude,
                longitude,
                website: c.website,
                contact_email: c.contact_email,
                total_students: c.total_students,
                partnership_status: c.partnership_status,
                partnership_start_date,
                email_domain: c.email_domain,
                student_verification_required: c.student_verification_required,
                active: c.active,
            })
        })
        .collect()
}

/// The line of college `code`'s `contact_email`, for an error found later
/// (the email pattern is checked by PostgreSQL's own regex engine).
pub fn college_email_line(file: &SeedFile, code: &str) -> Option<usize> {
    line_of(&file.text, "college_code", code, Some("contact_email"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> SeedFile {
        SeedFile {
            shown: format!("seeds/{name}"),
            text: text.to_string(),
        }
    }

    #[test]
    fn numbers_keep_their_exact_text() {
        let f = file(
            "app_settings.yaml",
            "- key: rate\n  type: number\n  value: 0.10\n- key: on\n  type: boolean\n  value: true\n\
             - key: v\n  type: string\n  value: 1.10\n- key: j\n  type: json\n  value: '[1, 2.50]'\n",
        );
        let s = parse_settings(&f).unwrap();
        assert_eq!(s[0].value_json, "0.10");
        assert_eq!(s[1].value_json, "true");
        // A string setting keeps "1.10", not the float 1.1.
        assert_eq!(s[2].value_json, "\"1.10\"");
        assert_eq!(s[3].value_json, "[1, 2.50]");
    }

    #[test]
    fn a_bad_value_names_file_line_and_key() {
        let f = file(
            "app_settings.yaml",
            "- key: a\n  type: number\n  value: 1\n- key: coin_to_inr_rate\n  type: number\n  value: half\n",
        );
        let err = parse_settings(&f).unwrap_err();
        assert!(
            err.message
                .starts_with("seeds/app_settings.yaml:6: key `coin_to_inr_rate`"),
            "{}",
            err.message
        );
        let f = file(
            "app_settings.yaml",
            "- key: a\n  type: number\n  valeu: 1\n",
        );
        let err = parse_settings(&f).unwrap_err();
        assert!(
            err.message.starts_with("seeds/app_settings.yaml:3:"),
            "{}",
            err.message
        );
        assert!(err.message.contains("valeu"), "{}", err.message);
        let f = file("app_settings.yaml", "- key: a\n  type: money\n  value: 1\n");
        let err = parse_settings(&f).unwrap_err();
        assert!(err.message.contains(":2: key `a`"), "{}", err.message);
    }

    #[test]
    fn the_tree_flattens_parents_first_and_slugs_are_unique() {
        let f = file(
            "categories.yaml",
            "- slug: food\n  name: Food\n  children:\n    - slug: cafes\n      name: Cafes\n      children:\n        - slug: coffee\n          name: Coffee\n    - slug: bakery\n      name: Bakery\n",
        );
        let c = parse_categories(&f).unwrap();
        let shape: Vec<(&str, Option<&str>, i32, i32)> = c
            .iter()
            .map(|c| {
                (
                    c.slug.as_str(),
                    c.parent_slug.as_deref(),
                    c.level,
                    c.display_order,
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("food", None, 0, 0),
                ("cafes", Some("food"), 1, 0),
                ("coffee", Some("cafes"), 2, 0),
                ("bakery", Some("food"), 1, 1)
            ]
        );
        let dup = file(
            "categories.yaml",
            "- slug: food\n  name: Food\n  children:\n    - slug: food\n      name: Again\n",
        );
        let err = parse_categories(&dup).unwrap_err();
        assert!(
            err.message
                .starts_with("seeds/categories.yaml:4: slug `food`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn tiers_take_exact_money() {
        let f = file(
            "loyalty_tiers.yaml",
            "- level: 1\n  name: Bronze\n  min_spend: 0.00\n  min_orders: 0\n  coin_multiplier: 1.00\n\
             - level: 2\n  name: Silver\n  min_spend: 2000.005\n  min_orders: 5\n  coin_multiplier: 1.25\n",
        );
        let err = parse_tiers(&f).unwrap_err();
        assert!(
            err.message
                .starts_with("seeds/loyalty_tiers.yaml:8: level 2: min_spend `2000.005`"),
            "{}",
            err.message
        );
    }
}
