//! Export destinations as the control table keeps them: what an admin set
//! (opaque here: the destinations crate owns the settings of each type),
//! the secret reference, enablement, the export cursor and delivery status.
//! Secrets themselves live in Secrets Manager only.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{Action, Group};
use crate::ids::OrgId;
use crate::time::Timestamp;

/// Which events a destination receives: all when both lists are empty,
/// otherwise those whose group or action is listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Group>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
}

impl DestinationFilter {
    /// Whether every action passes (no group or action chosen).
    pub fn admits_all(&self) -> bool {
        self.groups.is_empty() && self.actions.is_empty()
    }

    pub fn admits(&self, action: Action) -> bool {
        self.admits_all() || self.groups.contains(&action.group()) || self.actions.contains(&action)
    }
}

/// Delivery health, kept on the destination item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<Timestamp>,
    #[serde(default)]
    pub events_delivered: u64,
    #[serde(default)]
    pub jobs_pending: i64,
    #[serde(default)]
    pub jobs_dead: i64,
    /// The destination's job in flight, if any: while it holds, the
    /// scheduler cuts no further window (backpressure; see `JobLease`).
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub lease: Option<JobLease>,
}

/// The one window of a destination on its way through the queue. The
/// scheduler writes it with the cursor when it sends a window; the worker
/// extends it with every retry and continuation and removes it when the
/// window is delivered or dead-lettered. `until` bounds it, so a job lost
/// on the way (the queue's own redrive, a crash before the removal) blocks
/// the destination for at most that long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobLease {
    /// The end of the leased window: identifies the job holding the lease,
    /// so a replay or a redriven job never releases another's.
    #[serde(rename = "lease_window_to")]
    pub window_to: Timestamp,
    #[serde(rename = "lease_until")]
    pub until: Timestamp,
}

impl JobLease {
    /// Whether the lease still holds at `now` (an expired one is ignored).
    pub fn holds(&self, now: Timestamp) -> bool {
        self.until > now
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationState {
    Active,
    Failing,
    Disabled,
}

/// A destination as stored. `S` is what an admin set (name, settings,
/// format, filter): the destinations crate's `DestinationSpec`. The store
/// keeps it as JSON and never looks inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination<S> {
    pub id: String,
    pub org_id: OrgId,
    pub spec: S,
    /// Secrets Manager name of the destination's secret, if it has one.
    pub secret_ref: Option<String>,
    /// A masked hint of the secret (`…a1b2`) so admins can tell keys apart.
    pub secret_hint: Option<String>,
    pub enabled: bool,
    /// When export was (last) enabled: nothing recorded before it is sent
    /// unless replayed.
    pub enabled_at: Option<Timestamp>,
    /// The export cursor on `recorded_at`: windows are cut after it.
    pub cursor: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub status: DeliveryStatus,
}

impl<S> Destination<S> {
    pub fn new_id() -> String {
        format!("dst_{}", ulid::Ulid::new().to_string().to_lowercase())
    }

    /// How far behind `now` this destination's delivery is, in seconds,
    /// given its export `cursor` after this tick. With jobs still pending
    /// from earlier ticks, it is the time since the destination last
    /// confirmed a delivery (`last_success_at`, or `enabled_at` if it never
    /// did): a stalled worker or a failing destination makes it grow even
    /// though the scheduler keeps cutting windows. With none pending, every
    /// window up to the cursor was delivered, and it is the time since the
    /// cursor.
    pub fn delivery_lag_secs(&self, cursor: Timestamp, now: Timestamp) -> i64 {
        let since = if self.status.jobs_pending > 0 {
            self.status
                .last_success_at
                .or(self.enabled_at)
                .unwrap_or(cursor)
        } else {
            cursor
        };
        ((now.millis() - since.millis()) / 1000).max(0)
    }

    /// Whether a job of this destination is in flight at `now`: the
    /// scheduler then cuts nothing for it.
    pub fn job_in_flight(&self, now: Timestamp) -> bool {
        self.status.lease.is_some_and(|l| l.holds(now))
    }

    pub fn state(&self) -> DestinationState {
        if !self.enabled {
            return DestinationState::Disabled;
        }
        match (self.status.last_error_at, self.status.last_success_at) {
            (Some(err), Some(ok)) if err > ok => DestinationState::Failing,
            (Some(_), None) => DestinationState::Failing,
            _ => DestinationState::Active,
        }
    }

    /// The API representation: settings and status, never the secret.
    pub fn view(&self) -> Value
    where
        S: Serialize,
    {
        let mut v = serde_json::to_value(&self.spec).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.insert("id".into(), Value::String(self.id.clone()));
            m.insert("enabled".into(), Value::Bool(self.enabled));
            m.insert("state".into(), serde_json::json!(self.state()));
            m.insert("enabled_at".into(), serde_json::json!(self.enabled_at));
            m.insert("secret_hint".into(), serde_json::json!(self.secret_hint));
            m.insert("created_at".into(), serde_json::json!(self.created_at));
            m.insert("updated_at".into(), serde_json::json!(self.updated_at));
        }
        v
    }
}

/// `…` and the last four characters: enough to tell two keys apart.
pub fn secret_hint(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filter_admits_listed_groups_or_actions_and_everything_when_empty() {
        let all = DestinationFilter::default();
        assert!(all.admits(Action::ModelDeployed) && all.admits_all());
        let f = DestinationFilter {
            groups: vec![Group::Users],
            actions: vec![Action::ApiKeyCreated],
        };
        assert!(f.admits(Action::UserInvited));
        assert!(f.admits(Action::ApiKeyCreated));
        assert!(!f.admits(Action::ModelDeployed) && !f.admits_all());
    }

    #[test]
    fn secret_hint_shows_only_the_last_four() {
        assert_eq!(secret_hint("sk_live_abcdef1234"), "…1234");
        assert_eq!(secret_hint("ab"), "…ab");
    }

    #[test]
    fn state_follows_enablement_and_last_outcome() {
        let t = |s| Timestamp::parse(s).unwrap();
        let mut d = Destination {
            id: "dst_1".into(),
            org_id: OrgId::parse("acme").unwrap(),
            spec: json!({"name": "h", "type": "webhook", "settings": {"url": "https://h.example.com"}}),
            secret_ref: None,
            secret_hint: None,
            enabled: true,
            enabled_at: None,
            cursor: None,
            created_at: t("2026-11-28T00:00:00Z"),
            updated_at: t("2026-11-28T00:00:00Z"),
            status: DeliveryStatus::default(),
        };
        assert_eq!(d.state(), DestinationState::Active);
        d.status.last_error_at = Some(t("2026-11-28T01:00:00Z"));
        assert_eq!(d.state(), DestinationState::Failing);
        d.status.last_success_at = Some(t("2026-11-28T02:00:00Z"));
        assert_eq!(d.state(), DestinationState::Active);
        d.enabled = false;
        assert_eq!(d.state(), DestinationState::Disabled);
        assert!(d.view().get("secret").is_none());
    }

    #[test]
    fn a_lease_holds_until_it_expires_and_round_trips_flat_on_the_item() {
        let t = |s| Timestamp::parse(s).unwrap();
        let lease = JobLease {
            window_to: t("2026-11-28T00:05:00Z"),
            until: t("2026-11-28T00:15:00Z"),
        };
        assert!(lease.holds(t("2026-11-28T00:14:59.999Z")));
        assert!(!lease.holds(t("2026-11-28T00:15:00Z")), "expired at until");
        let status = DeliveryStatus {
            lease: Some(lease),
            ..DeliveryStatus::default()
        };
        let v = serde_json::to_value(&status).unwrap();
        assert_eq!(v["lease_until"], "2026-11-28T00:15:00.000Z");
        assert_eq!(v["lease_window_to"], "2026-11-28T00:05:00.000Z");
        assert_eq!(serde_json::from_value::<DeliveryStatus>(v).unwrap(), status);
        let none = serde_json::to_value(DeliveryStatus::default()).unwrap();
        assert!(none.get("lease_until").is_none(), "{none}");
        assert_eq!(
            serde_json::from_value::<DeliveryStatus>(json!({}))
                .unwrap()
                .lease,
            None
        );
    }

    #[test]
    fn delivery_lag_grows_while_jobs_wait_though_the_cursor_moves() {
        let t = |s| Timestamp::parse(s).unwrap();
        let mut d = Destination {
            id: "dst_1".into(),
            org_id: OrgId::parse("acme").unwrap(),
            spec: json!({}),
            secret_ref: None,
            secret_hint: None,
            enabled: true,
            enabled_at: Some(t("2026-11-28T00:00:00Z")),
            cursor: None,
            created_at: t("2026-11-28T00:00:00Z"),
            updated_at: t("2026-11-28T00:00:00Z"),
            status: DeliveryStatus::default(),
        };
        let now = t("2026-11-28T03:00:00Z");
        let cursor = t("2026-11-28T02:59:00Z");
        // Caught up: nothing pending, lag is the cursor's.
        assert_eq!(d.delivery_lag_secs(cursor, now), 60);
        // Jobs waiting since the last success an hour ago: an hour behind,
        // however far the scheduler has cut.
        d.status.jobs_pending = 3;
        d.status.last_success_at = Some(t("2026-11-28T02:00:00Z"));
        assert_eq!(d.delivery_lag_secs(cursor, now), 3600);
        // Never delivered: behind since it was enabled.
        d.status.last_success_at = None;
        assert_eq!(d.delivery_lag_secs(cursor, now), 3 * 3600);
    }
}
