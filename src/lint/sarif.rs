//! The report as SARIF 2.1.0, the format code-scanning services read: one
//! run, the rule catalogue as the driver's rules, one result per finding,
//! each with a physical location (file, line, column). Ignored findings are
//! results too, with a suppression that carries the reason, so a service
//! shows them as dismissed rather than losing them.

use serde_json::{json, Value};

use super::rules::{self, Severity};
use super::Report;

pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// `report` as one SARIF log.
pub fn log(report: &Report, version: &str) -> Value {
    let index = |id: &str| rules::ALL.iter().position(|r| r.id == id).unwrap_or(0);
    let location = |file: &str, line: usize, column: usize| {
        json!([{
            "physicalLocation": {
                "artifactLocation": { "uri": file },
                "region": { "startLine": line.max(1), "startColumn": column.max(1) }
            }
        }])
    };
    let mut results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            json!({
                "ruleId": f.rule,
                "ruleIndex": index(f.rule),
                "level": level(f.severity),
                "message": { "text": format!("{} Safe way: {}", f.message, f.fix) },
                "locations": location(&f.file, f.line, f.column),
            })
        })
        .collect();
    results.extend(report.ignored.iter().map(|i| {
        let rule = rules::by_id(i.rule).unwrap_or(&rules::PARSE_ERROR);
        json!({
            "ruleId": i.rule,
            "ruleIndex": index(i.rule),
            "level": level(rule.severity),
            "message": { "text": rule.title },
            "locations": location(&i.file, i.line, 1),
            "suppressions": [{ "kind": "inSource", "justification": i.reason }],
        })
    }));
    let driver_rules: Vec<Value> = rules::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "shortDescription": { "text": r.title },
                "fullDescription": { "text": r.why },
                "help": { "text": r.fix },
                "defaultConfiguration": { "level": level(r.severity) },
            })
        })
        .collect();
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "rez-db lint",
                "version": version,
                "rules": driver_rules,
            }},
            "results": results,
        }]
    })
}
