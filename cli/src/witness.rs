//! `auditctl witness`: follows an org's log from outside the service. Each
//! run fetches the latest signed checkpoint and, when the tree grew, the
//! consistency proof from the size it saw last; it accepts only an
//! extension signed by a pinned key and keeps it in its state file. A
//! rollback or a fork is refused and the state is left as it was, so a
//! rewritten history keeps failing every run (the decision itself is
//! `audit_domain::integrity::witness`).

use std::path::{Path, PathBuf};

use audit_aws::store::Store;
use audit_domain::ids::OrgId;
use audit_domain::integrity::merkle::{consistency_ranges, path_from_hex, Hash};
use audit_domain::integrity::witness::{proof_needed, witness, Accepted, Refusal, WitnessState};
use audit_domain::integrity::{Checkpoint, KeyRing, PublicKey};
use serde::Deserialize;

/// `auditctl witness`'s arguments.
#[derive(Debug, clap::Args)]
pub struct WitnessArgs {
    /// Read the org's checkpoints from the service's store (the operator).
    #[arg(long, conflicts_with = "url")]
    pub org: Option<String>,
    /// Read them through the API at this base URL (a customer); the key,
    /// any reader of the org's events, comes from `AUDIT_API_KEY`.
    #[arg(long)]
    pub url: Option<String>,
    /// The witness's state: the last checkpoint it accepted (JSON). Created
    /// on the first run (trust on first use).
    #[arg(long)]
    pub state: PathBuf,
    /// The public key (base64) checkpoints must be signed with; repeat it
    /// after a key rotation. Required: a witness trusts no key registry.
    #[arg(long, required = true)]
    pub public_key: Vec<String>,
}

/// Where the checkpoints come from.
pub enum Source {
    Store { store: Store, org: OrgId },
    Api(Api),
}

/// The API as a witness uses it.
pub struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

/// What a run concluded.
#[derive(Debug)]
pub enum Outcome {
    /// The log has no checkpoint yet and the witness has no state.
    NothingYet,
    Accepted(Accepted),
    Refused {
        why: Refusal,
        kept: WitnessState,
    },
}

#[derive(Deserialize)]
struct CheckpointAnswer {
    checkpoint: String,
}

#[derive(Deserialize)]
struct ConsistencyAnswer {
    consistency_path: Vec<String>,
}

impl Api {
    pub fn new(base: &str, key: String) -> Result<Self, String> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err("--url must be an http(s) URL".into());
        }
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            // The key must never follow a redirect to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Api { http, base, key })
    }

    async fn get(&self, path: &str) -> Result<(u16, String), String> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .map_err(|e| format!("GET {path}: {}", e.without_url()))?;
        let status = r.status().as_u16();
        let body = r
            .text()
            .await
            .map_err(|e| format!("GET {path}: {}", e.without_url()))?;
        Ok((status, body))
    }
}

impl Source {
    async fn latest(&self) -> Result<Option<String>, String> {
        match self {
            Source::Store { store, org } => store
                .latest_checkpoint(org)
                .await
                .map_err(|e| e.to_string()),
            Source::Api(api) => {
                let (status, body) = api.get("/v1/integrity/checkpoint").await?;
                match status {
                    200 => serde_json::from_str::<CheckpointAnswer>(&body)
                        .map(|a| Some(a.checkpoint))
                        .map_err(|e| format!("the checkpoint answer: {e}")),
                    409 => Ok(None),
                    s => Err(format!("GET /v1/integrity/checkpoint answered {s}: {body}")),
                }
            }
        }
    }

    async fn consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>, String> {
        match self {
            Source::Store { store, org } => store
                .range_hashes(org, &consistency_ranges(from, to))
                .await
                .map_err(|e| e.to_string()),
            Source::Api(api) => {
                let path = format!("/v1/integrity/consistency?from={from}&to={to}");
                let (status, body) = api.get(&path).await?;
                if status != 200 {
                    return Err(format!("GET {path} answered {status}: {body}"));
                }
                let a: ConsistencyAnswer = serde_json::from_str(&body)
                    .map_err(|e| format!("the consistency answer: {e}"))?;
                path_from_hex("consistency_path", &a.consistency_path)
            }
        }
    }
}

fn read_state(path: &Path) -> Result<Option<WitnessState>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("--state {}: not a witness state: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("--state {}: {e}", path.display())),
    }
}

/// Replaces the state file whole (write aside, then rename), so a crash
/// never leaves half a state.
fn write_state(path: &Path, state: &WitnessState) -> Result<(), String> {
    let text = serde_json::to_string_pretty(state).map_err(|e| e.to_string())?;
    let aside = path.with_extension("tmp");
    std::fs::write(&aside, text).map_err(|e| format!("--state {}: {e}", aside.display()))?;
    std::fs::rename(&aside, path).map_err(|e| format!("--state {}: {e}", path.display()))
}

/// One witness run: fetch, decide, and save the state when accepted.
pub async fn witness_once(
    source: &Source,
    state_path: &Path,
    keys: &KeyRing,
) -> Result<Outcome, String> {
    let seen = read_state(state_path)?;
    let Some(note) = source.latest().await? else {
        return Ok(match seen {
            None => Outcome::NothingYet,
            Some(kept) => Outcome::Refused {
                why: Refusal::Rollback {
                    seen: kept.tree_size,
                    now: 0,
                },
                kept,
            },
        });
    };
    // The proof is asked for only once the note opens with a pinned key;
    // a note that does not is refused by `witness` below.
    let proof = match Checkpoint::open_any(&note, keys) {
        Ok(now) => match proof_needed(seen.as_ref(), &now) {
            Some((from, to)) => source.consistency(from, to).await?,
            None => Vec::new(),
        },
        Err(_) => Vec::new(),
    };
    match witness(seen.as_ref(), &note, keys, &proof) {
        Ok(accepted) => {
            if !matches!(accepted, Accepted::Unchanged(_)) {
                write_state(state_path, accepted.state())?;
            }
            Ok(Outcome::Accepted(accepted))
        }
        Err(why) => match seen {
            Some(kept) => Ok(Outcome::Refused { why, kept }),
            // Nothing to keep: a first checkpoint that does not open.
            None => Err(why.to_string()),
        },
    }
}

/// Runs `auditctl witness`: prints the outcome; returns whether the
/// checkpoint was accepted.
pub async fn run(store: &Store, args: WitnessArgs) -> Result<bool, String> {
    let mut keys = KeyRing::default();
    for k in &args.public_key {
        let key = PublicKey::from_base64(k).map_err(|e| format!("--public-key: {e}"))?;
        keys.add(key, None);
    }
    let source = match (&args.org, &args.url) {
        (Some(org), None) => {
            let org = OrgId::parse(org).map_err(|e| format!("--org {e}"))?;
            Source::Store {
                store: store.clone(),
                org,
            }
        }
        (None, Some(url)) => {
            let key = std::env::var("AUDIT_API_KEY")
                .ok()
                .filter(|k| !k.is_empty())
                .ok_or("--url needs the org's API key (or a reader's) in AUDIT_API_KEY")?;
            Source::Api(Api::new(url, key)?)
        }
        _ => return Err("give --org ORG (the store) or --url URL (the API)".into()),
    };
    let file = args.state.display();
    Ok(match witness_once(&source, &args.state, &keys).await? {
        Outcome::NothingYet => {
            println!("OK nothing to witness yet: the log has no checkpoint");
            true
        }
        Outcome::Accepted(Accepted::First(s)) => {
            println!(
                "OK first checkpoint of {}: a tree of {} events, trusted on first use; saved to {file}",
                s.origin, s.tree_size
            );
            true
        }
        Outcome::Accepted(Accepted::Unchanged(s)) => {
            println!("OK {} unchanged at {} events", s.origin, s.tree_size);
            true
        }
        Outcome::Accepted(Accepted::Extended { from, state }) => {
            println!(
                "OK {} extends {from} → {} events (consistency proof verified); saved to {file}",
                state.origin, state.tree_size
            );
            true
        }
        Outcome::Refused { why, kept } => {
            println!(
                "REFUSED {}: {why}; {file} keeps the tree of {} events",
                kept.origin, kept.tree_size
            );
            false
        }
    })
}
