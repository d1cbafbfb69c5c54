//! Who may do what. Pure functions over a `Principal` (what the caller's key
//! says) and the org's settings; the HTTP edge maps `Denied` to a status.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::OrgId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A producer's key: writes events, reads nothing.
    Ingest,
    /// An organization admin: reads the log and manages export.
    Admin,
    /// An organization member: reads the log only when the org has no teams.
    Member,
    /// A platform's server key: mints viewer tokens (`POST /v1/viewer-tokens`)
    /// for its signed-in users, and does nothing else.
    ViewerIssuer,
}

impl Role {
    /// Every role, for whatever lists them (the CLI's `--role`, tests).
    pub const ALL: [Role; 4] = [Role::Ingest, Role::Admin, Role::Member, Role::ViewerIssuer];

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "ingest" => Some(Role::Ingest),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            "viewer_issuer" => Some(Role::ViewerIssuer),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Ingest => "ingest",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::ViewerIssuer => "viewer_issuer",
        }
    }
}

/// The authenticated caller: the org comes from the key, never from a body.
/// A viewer token's principal has the viewer's role (admin or member), the
/// issuing key's id and the viewer (who they are, what they may see).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub org_id: OrgId,
    pub role: Role,
    pub key_id: String,
    pub viewer: Option<crate::viewer::Viewer>,
}

/// Org settings that matter to authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgAccess {
    pub uses_teams: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    WriteEvents,
    ReadEvents,
    ManageExport,
    IssueViewerTokens,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("ingest keys can only write events")]
    IngestKeyCannotRead,
    #[error("only ingest keys write events")]
    OnlyIngestKeysWrite,
    #[error("this organization uses teams: only Organization Admins can view the activity log")]
    MembersCannotReadInTeamsOrg,
    #[error("only Organization Admins can manage export")]
    AdminOnly,
    #[error("viewer issuer keys only mint viewer tokens")]
    IssuerKeyOnlyMintsTokens,
    #[error("only a viewer_issuer key mints viewer tokens")]
    OnlyIssuerKeysMint,
    #[error("viewer tokens only read the log: they never write events")]
    ViewerTokensCannotWrite,
    #[error("this viewer token is scoped: it cannot see outside its scope")]
    OutsideScope,
}

/// The one authorization decision.
pub fn authorize(role: Role, org: OrgAccess, permission: Permission) -> Result<(), Denied> {
    use Permission::*;
    match (permission, role) {
        (WriteEvents, Role::Ingest) => Ok(()),
        (WriteEvents, _) => Err(Denied::OnlyIngestKeysWrite),
        (ReadEvents, Role::Admin) => Ok(()),
        (ReadEvents, Role::Member) if !org.uses_teams => Ok(()),
        (ReadEvents, Role::Member) => Err(Denied::MembersCannotReadInTeamsOrg),
        (ReadEvents, Role::Ingest) => Err(Denied::IngestKeyCannotRead),
        (ManageExport, Role::Admin) => Ok(()),
        (ManageExport, Role::Ingest) => Err(Denied::IngestKeyCannotRead),
        (ManageExport, Role::Member) => Err(Denied::AdminOnly),
        (IssueViewerTokens, Role::ViewerIssuer) => Ok(()),
        (IssueViewerTokens, _) => Err(Denied::OnlyIssuerKeysMint),
        (ReadEvents | ManageExport, Role::ViewerIssuer) => Err(Denied::IssuerKeyOnlyMintsTokens),
    }
}

/// Keys are stored only as their SHA-256; this is the lookup handle.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new random API key, e.g. `alk_live_3f9c…` (32 random bytes, hex).
pub fn generate_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("alk_{}", hex::encode(bytes))
}

/// Pulls the key out of `Authorization: Bearer <key>`.
pub fn bearer_key(header: Option<&str>) -> Option<&str> {
    let value = header?.trim();
    let (scheme, key) = value.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEAMS: OrgAccess = OrgAccess { uses_teams: true };
    const NO_TEAMS: OrgAccess = OrgAccess { uses_teams: false };

    #[test]
    fn decision_table() {
        use Permission::*;
        use Role::*;
        let table: &[(Role, OrgAccess, Permission, bool)] = &[
            (Ingest, NO_TEAMS, WriteEvents, true),
            (Ingest, TEAMS, WriteEvents, true),
            (Admin, NO_TEAMS, WriteEvents, false),
            (Member, NO_TEAMS, WriteEvents, false),
            (Ingest, NO_TEAMS, ReadEvents, false),
            (Ingest, TEAMS, ReadEvents, false),
            (Admin, NO_TEAMS, ReadEvents, true),
            (Admin, TEAMS, ReadEvents, true),
            (Member, NO_TEAMS, ReadEvents, true),
            (Member, TEAMS, ReadEvents, false),
            (Admin, TEAMS, ManageExport, true),
            (Admin, NO_TEAMS, ManageExport, true),
            (Member, NO_TEAMS, ManageExport, false),
            (Ingest, NO_TEAMS, ManageExport, false),
            (ViewerIssuer, NO_TEAMS, WriteEvents, false),
            (ViewerIssuer, NO_TEAMS, ReadEvents, false),
            (ViewerIssuer, NO_TEAMS, ManageExport, false),
            (ViewerIssuer, TEAMS, IssueViewerTokens, true),
            (ViewerIssuer, NO_TEAMS, IssueViewerTokens, true),
            (Admin, NO_TEAMS, IssueViewerTokens, false),
            (Member, NO_TEAMS, IssueViewerTokens, false),
            (Ingest, NO_TEAMS, IssueViewerTokens, false),
        ];
        for &(role, org, perm, allowed) in table {
            assert_eq!(
                authorize(role, org, perm).is_ok(),
                allowed,
                "{role:?} {org:?} {perm:?}"
            );
        }
    }

    #[test]
    fn member_cannot_read_when_org_uses_teams() {
        assert_eq!(
            authorize(Role::Member, TEAMS, Permission::ReadEvents),
            Err(Denied::MembersCannotReadInTeamsOrg)
        );
    }

    #[test]
    fn bearer_key_is_parsed_strictly() {
        assert_eq!(bearer_key(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_key(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer_key(Some("Basic abc")), None);
        assert_eq!(bearer_key(Some("Bearer ")), None);
        assert_eq!(bearer_key(Some("abc")), None);
        assert_eq!(bearer_key(None), None);
    }

    #[test]
    fn generated_keys_are_unique_and_hash_stably() {
        let a = generate_key();
        assert_ne!(a, generate_key());
        assert_eq!(key_hash(&a), key_hash(&a));
        assert_eq!(key_hash(&a).len(), 64);
    }

    #[test]
    fn roles_round_trip() {
        for r in [Role::Ingest, Role::Admin, Role::Member, Role::ViewerIssuer] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
