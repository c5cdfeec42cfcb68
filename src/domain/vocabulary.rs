//! The allowed values of every enumerated column, from the reference's
//! comments. The database does not CHECK most of them (docs/schema.md: a
//! historical import must load and be reported, not be refused at COPY);
//! `validate` reports values outside these lists (check `dq.status`), and
//! generators and importers take their values from here.

/// (table, column, allowed values).
pub const ENUMERATIONS: &[(&str, &str, &[&str])] = &[
    ("users", "status", &["active", "suspended", "deleted"]),
    (
        "users",
        "account_type",
        &["regular", "student", "corporate"],
    ),
    (
        "users",
        "gender",
        &["male", "female", "other", "prefer_not_to_say"],
    ),
    ("user_addresses", "label", &["home", "work", "other"]),
    (
        "user_colleges",
        "verification_status",
        &["pending", "verified", "rejected"],
    ),
    (
        "user_social_accounts",
        "provider",
        &["google", "facebook", "apple"],
    ),
    ("user_sessions", "device_type", &["ios", "android", "web"]),
    (
        "merchants",
        "status",
        &["pending", "active", "suspended", "rejected"],
    ),
    (
        "merchants",
        "package_tier",
        &["basic", "plus", "premium", "enterprise"],
    ),
    (
        "merchants",
        "onboarding_status",
        &["pending", "documents_submitted", "verified", "live"],
    ),
    (
        "merchants",
        "settlement_frequency",
        &["daily", "weekly", "monthly"],
    ),
    ("merchant_users", "role", &["owner", "manager", "staff"]),
    (
        "merchant_bank_accounts",
        "account_type",
        &["current", "savings"],
    ),
    (
        "merchant_bank_accounts",
        "verification_method",
        &["penny_drop", "manual"],
    ),
    (
        "offers",
        "offer_type",
        &[
            "discount_percent",
            "discount_fixed",
            "bogo",
            "freebie",
            "cashback",
        ],
    ),
    (
        "offers",
        "status",
        &["draft", "active", "paused", "expired", "rejected"],
    ),
    (
        "offers",
        "approval_status",
        &["pending", "approved", "rejected"],
    ),
    (
        "offers",
        "user_segment",
        &["all", "new_users", "student", "vip", "custom"],
    ),
    (
        "offer_redemptions",
        "status",
        &["pending", "completed", "cancelled", "refunded"],
    ),
    (
        "wallet_transactions",
        "transaction_type",
        &[
            "earn",
            "spend",
            "transfer",
            "refund",
            "expire",
            "admin_credit",
            "admin_debit",
        ],
    ),
    (
        "wallet_transactions",
        "coin_type",
        &["rez", "branded", "prive", "promo", "cash"],
    ),
    (
        "orders",
        "status",
        &[
            "pending",
            "confirmed",
            "preparing",
            "ready",
            "completed",
            "cancelled",
        ],
    ),
    (
        "orders",
        "payment_status",
        &["pending", "paid", "failed", "refunded"],
    ),
    (
        "orders",
        "payment_method",
        &["upi", "card", "wallet", "netbanking", "cod"],
    ),
    ("orders", "delivery_type", &["pickup", "delivery"]),
    ("payments", "gateway", &["razorpay", "paytm", "phonepe"]),
    (
        "payments",
        "status",
        &["initiated", "success", "failed", "refunded"],
    ),
    (
        "payments",
        "payment_method",
        &["upi", "card", "wallet", "netbanking"],
    ),
    ("referrals", "status", &["pending", "completed", "expired"]),
    (
        "referrals",
        "condition_type",
        &["signup", "first_purchase", "spend_threshold"],
    ),
    ("prive_subscriptions", "tier", &["lite", "plus", "premium"]),
    (
        "prive_subscriptions",
        "status",
        &["active", "expired", "cancelled"],
    ),
    (
        "prive_merchants",
        "prive_tier",
        &["lite", "plus", "premium"],
    ),
    (
        "colleges",
        "partnership_status",
        &["pending", "active", "inactive"],
    ),
    (
        "student_ambassadors",
        "status",
        &["active", "inactive", "suspended"],
    ),
    (
        "student_ambassadors",
        "payout_method",
        &["bank_transfer", "upi", "paytm"],
    ),
    (
        "events",
        "event_type",
        &["flash_sale", "festival", "clearance", "seasonal"],
    ),
    ("events", "status", &["draft", "scheduled", "live", "ended"]),
    (
        "campaigns",
        "campaign_type",
        &["push_notification", "email", "sms", "in_app"],
    ),
    (
        "campaigns",
        "target_segment",
        &["all", "active_users", "inactive_users", "custom"],
    ),
    (
        "campaigns",
        "schedule_type",
        &["immediate", "scheduled", "recurring"],
    ),
    (
        "campaigns",
        "status",
        &["draft", "scheduled", "sending", "sent", "cancelled"],
    ),
    (
        "admin_users",
        "role",
        &[
            "super_admin",
            "operations_admin",
            "support_admin",
            "finance_admin",
        ],
    ),
    ("reviews", "status", &["published", "flagged", "removed"]),
    (
        "notifications",
        "priority",
        &["low", "normal", "high", "urgent"],
    ),
    (
        "notifications",
        "delivery_method",
        &["push", "in_app", "email", "sms"],
    ),
    (
        "app_settings",
        "setting_type",
        &["string", "number", "boolean", "json"],
    ),
];

/// The allowed values of `table.column`, if it is enumerated.
pub fn allowed(table: &str, column: &str) -> Option<&'static [&'static str]> {
    ENUMERATIONS
        .iter()
        .find(|(t, c, _)| *t == table && *c == column)
        .map(|(_, _, values)| *values)
}

/// The reference's email rule (users.valid_email), as a PostgreSQL regex for `~*`.
pub const EMAIL_PATTERN: &str = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$";
/// The reference's phone rule (users.valid_phone), as a PostgreSQL regex for `~*`.
pub const PHONE_PATTERN: &str = r"^\+?[1-9]\d{9,14}$";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CoinType, TxType};

    #[test]
    fn ledger_vocabulary_matches_the_types() {
        let coins: Vec<&str> = CoinType::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            allowed("wallet_transactions", "coin_type").unwrap(),
            coins.as_slice()
        );
        let types: Vec<&str> = TxType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            allowed("wallet_transactions", "transaction_type").unwrap(),
            types.as_slice()
        );
        assert!(allowed("users", "nope").is_none());
    }
}
