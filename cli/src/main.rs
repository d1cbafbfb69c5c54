//! `auditctl`: set up and run the audit log locally, and administer it.

use std::process::ExitCode;

use audit_aws::access::Authenticator;
use audit_aws::store::{ApiKeyRecord, OrgSettingsChange};
use audit_domain::auth::{generate_key, key_hash, Role};
use audit_domain::catalog::Action;
use audit_domain::ids::OrgId;
use audit_domain::limits::{MAX_NAME_LEN, MAX_RETENTION_DAYS, MIN_RETENTION_DAYS};
use audit_domain::retention::RetentionDays;
use audit_domain::time::Timestamp;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "auditctl", about = "Run and administer the audit log", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the tables on the configured endpoints (idempotent).
    Init,
    /// Host the ingest and query handlers on one HTTP port.
    Serve {
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: String,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage organization settings.
    Orgs {
        #[command(subcommand)]
        command: OrgsCommand,
    },
    /// Recover export: redrive dead-lettered jobs, replay a past window.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// Check the log's integrity (event hashes, digests, chain, signatures)
    /// in the store (--org) or in an S3 export (--s3); exits non-zero on any
    /// failure.
    Verify(auditctl::verify::VerifyArgs),
    /// Follow an org's log as a witness: accept the latest checkpoint only
    /// if it extends the one in --state (a consistency proof) and a pinned
    /// key signed it; exits non-zero on a rollback or a fork.
    Witness(auditctl::witness::WitnessArgs),
    /// Manage the integrity signing key.
    SigningKey {
        #[command(subcommand)]
        command: SigningKeyCommand,
    },
}

#[derive(Subcommand)]
enum SigningKeyCommand {
    /// Replace the key that signs new digests. Digests signed by the old key
    /// keep verifying: every key stays listed at GET /v1/integrity/public-keys.
    Rotate,
    /// List every signing key (ids and public halves; never a private key).
    List,
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Put dead-lettered export jobs back on the export queue.
    Redrive {
        /// Only this destination's jobs.
        #[arg(long)]
        destination: Option<String>,
    },
    /// Send an explicit past window (recorded_at in (from, to]) to a
    /// destination: the only way events from before enabling are sent.
    Replay {
        #[arg(long)]
        org: String,
        #[arg(long)]
        destination: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; prints the key alone on stdout (it is shown only once).
    Create {
        #[arg(long)]
        org: String,
        #[arg(long, value_parser = ["admin", "member", "ingest", "viewer_issuer"])]
        role: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List an org's keys (ids, roles, names; never the keys).
    List {
        #[arg(long)]
        org: String,
    },
    /// Revoke a key by its id; takes effect within the key cache time (30 s).
    Revoke {
        #[arg(long)]
        org: String,
        #[arg(long)]
        key_id: String,
    },
}

#[derive(Subcommand)]
enum OrgsCommand {
    /// Change an org's settings: only the flags given; the others keep
    /// their value (an org never set follows the deployment's default
    /// retention, AUDIT_DEFAULT_RETENTION_DAYS). A new retention applies to
    /// events recorded from now on; stored events keep their expiry.
    Set {
        #[arg(long)]
        org: String,
        #[arg(long, action = clap::ArgAction::Set)]
        uses_teams: Option<bool>,
        /// Days from 1 to 3650.
        #[arg(long)]
        retention_days: Option<u32>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("auditctl: {e}");
            ExitCode::FAILURE
        }
    }
}

fn org(s: &str) -> Result<OrgId, String> {
    OrgId::parse(s).map_err(|e| format!("--org {e}"))
}

async fn run(cli: Cli) -> Result<(), String> {
    let store = auditctl::store_from_env()
        .await
        .map_err(|e| e.to_string())?;
    match cli.command {
        Command::Init => {
            store.ensure_tables().await.map_err(|e| e.to_string())?;
            let t = store.tables();
            eprintln!("tables ready: {} and {}", t.events, t.control);
            // Tables from before the by_tick index: put what the tick reads
            // into it (idempotent; see the README's migration notes).
            let m = store
                .migrate_tick_index()
                .await
                .map_err(|e| e.to_string())?;
            if m.already_done {
                eprintln!("tick index ready (migrated before)");
            } else {
                eprintln!(
                    "tick index ready: {} destinations and {} orgs added",
                    m.destinations, m.orgs
                );
            }
            let key = auditctl::signing_key::ensure(&store).await?;
            eprintln!("integrity signing key ready: {key}");
            let config = audit_aws::aws_config().await;
            let (queue, dlq) =
                audit_aws::queue::ExportQueue::ensure(&aws_sdk_sqs::Client::new(&config))
                    .await
                    .map_err(|e| e.to_string())?;
            eprintln!("export queue ready: {queue} (dead letters: {dlq})");
            let bucket =
                std::env::var("AUDIT_LOCAL_BUCKET").unwrap_or_else(|_| "audit-export-local".into());
            let s3 = aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(&config)
                    .force_path_style(true)
                    .build(),
            );
            match s3.create_bucket().bucket(&bucket).send().await {
                Ok(_) => eprintln!("bucket ready: {bucket}"),
                Err(e)
                    if e.as_service_error().is_some_and(|s| {
                        s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                    }) =>
                {
                    eprintln!("bucket ready: {bucket}")
                }
                Err(e) => {
                    return Err(format!(
                        "creating bucket {bucket}: {}",
                        aws_sdk_s3::error::DisplayErrorContext(&e)
                    ))
                }
            }
            // The local stand-in for the template's CheckpointBucket.
            if let Some(bucket) = std::env::var("AUDIT_CHECKPOINT_BUCKET")
                .ok()
                .filter(|b| !b.is_empty())
            {
                auditctl::ensure_locked_bucket(&s3, &bucket).await?;
                eprintln!("checkpoint bucket ready: {bucket} (Object Lock, compliance, 1 day)");
            }
        }
        Command::Export { command } => {
            let app = auditctl::export_app(store).await?;
            match command {
                ExportCommand::Redrive { destination } => {
                    let redriven =
                        export::redrive_dlq(&app, destination.as_deref(), Timestamp::now()).await?;
                    if redriven.dropped > 0 {
                        eprintln!(
                            "dropped {} job(s) their org's admin had redriven already",
                            redriven.dropped
                        );
                    }
                    let moved = redriven.moved;
                    for job in &moved {
                        let _ = app
                            .store
                            .count_jobs(
                                &job.org_id,
                                &job.destination_id,
                                audit_aws::store::JobCounter::Dead,
                                -1,
                            )
                            .await;
                        let _ = app
                            .store
                            .count_jobs(
                                &job.org_id,
                                &job.destination_id,
                                audit_aws::store::JobCounter::Pending,
                                1,
                            )
                            .await;
                    }
                    let mut per_destination: std::collections::BTreeMap<(String, String), usize> =
                        Default::default();
                    for job in &moved {
                        *per_destination
                            .entry((job.org_id.to_string(), job.destination_id.clone()))
                            .or_default() += 1;
                    }
                    for ((o, destination), jobs) in per_destination {
                        let jobs = jobs.to_string();
                        self_audit(
                            &app.store,
                            &org(&o)?,
                            Action::ExportRedriveRequested,
                            ("export_destination", &destination, None),
                            &[("jobs", jobs.as_str())],
                        )
                        .await;
                    }
                    eprintln!("redrove {} job(s)", moved.len());
                }
                ExportCommand::Replay {
                    org: o,
                    destination,
                    from,
                    to,
                } => {
                    let org = org(&o)?;
                    let window = parse_window(&from, &to)?;
                    let job =
                        export::replay(&app, &org, &destination, window, Timestamp::now()).await?;
                    let (from, to) = (job.window.from.to_rfc3339(), job.window.to.to_rfc3339());
                    self_audit(
                        &app.store,
                        &org,
                        Action::ExportReplayRequested,
                        ("export_destination", &job.destination_id, None),
                        &[("from", from.as_str()), ("to", to.as_str())],
                    )
                    .await;
                    eprintln!("replay of {} queued for {}", job.window, job.destination_id);
                }
            }
        }
        Command::Verify(args) => {
            if !auditctl::verify::run(&store, args).await? {
                return Err("integrity verification failed".into());
            }
        }
        Command::Witness(args) => {
            if !auditctl::witness::run(&store, args).await? {
                return Err("the checkpoint was refused".into());
            }
        }
        Command::SigningKey {
            command: SigningKeyCommand::Rotate,
        } => {
            let (old, new) = auditctl::signing_key::rotate(&store).await?;
            eprintln!("signing key rotated: {old} retired, {new} signs new digests");
            println!("{new}");
        }
        Command::SigningKey {
            command: SigningKeyCommand::List,
        } => {
            println!("key_id\tstatus\tcreated_at\tretired_at\tpublic_key");
            for listed in auditctl::signing_key::list(&store).await? {
                let status = if listed.current { "current" } else { "retired" };
                let k = listed.key;
                println!(
                    "{}\t{status}\t{}\t{}\t{}",
                    k.key_id,
                    k.created_at.to_rfc3339(),
                    k.retired_at.map_or("-".into(), Timestamp::to_rfc3339),
                    k.public_key
                );
            }
        }
        Command::Serve { listen } => {
            let secret = auditctl::cursor_secret_from_env().map_err(|e| e.to_string())?;
            let exporter = auditctl::export_app(store.clone()).await?;
            let export_queue = exporter.queue.clone();
            let interval = std::env::var("AUDIT_SCHEDULE_INTERVAL_SECONDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .map_or(
                    std::time::Duration::from_secs(60),
                    std::time::Duration::from_secs,
                );
            let config = audit_aws::aws_config().await;
            let late_after = export::late_after_ms(exporter.config.lag_ms);
            let arrivals =
                auditctl::export_runner::ArrivalsPoller::start(&config, &store, late_after).await?;
            if arrivals.is_none() {
                eprintln!("the events table has no stream: late arrivals are not watched (run auditctl init)");
            }
            tokio::spawn(auditctl::export_runner::run(exporter, interval, arrivals));
            let urls = audit_destinations::UrlPolicy::from_env();
            let apps = auditctl::apps(
                store,
                &secret,
                Authenticator::from_env,
                &config,
                urls,
                Some(export_queue),
            );
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            eprintln!("serving on http://{listen}");
            auditctl::server::serve(listener, apps, shutdown_signal())
                .await
                .map_err(|e| e.to_string())?;
        }
        Command::Keys { command } => match command {
            KeysCommand::Create { org: o, role, name } => {
                if name.chars().count() > MAX_NAME_LEN {
                    return Err(format!("--name must be at most {MAX_NAME_LEN} characters"));
                }
                let key = generate_key();
                let hash = key_hash(&key);
                let record = ApiKeyRecord {
                    key_id: format!("key_{}", &hash[..16]),
                    key_hash: hash,
                    org_id: org(&o)?,
                    role: Role::parse(&role)
                        .ok_or("--role must be admin, member, ingest or viewer_issuer")?,
                    name,
                    created_at: Timestamp::now(),
                    revoked_at: None,
                };
                store.put_key(&record).await.map_err(|e| e.to_string())?;
                let name = (!record.name.is_empty()).then_some(record.name.as_str());
                self_audit(
                    &store,
                    &record.org_id,
                    Action::AuditLogKeyCreated,
                    ("audit_log_key", &record.key_id, name),
                    &[("role", role.as_str())],
                )
                .await;
                eprintln!(
                    "created {} key {} for org {}",
                    role, record.key_id, record.org_id
                );
                println!("{key}");
            }
            KeysCommand::List { org: o } => {
                for k in store
                    .list_keys(&org(&o)?)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    let state = k
                        .revoked_at
                        .map_or("active".to_string(), |t| format!("revoked {t}"));
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        k.key_id,
                        k.role.as_str(),
                        k.name,
                        k.created_at,
                        state
                    );
                }
            }
            KeysCommand::Revoke { org: o, key_id } => {
                if !store
                    .revoke_key(&org(&o)?, &key_id, Timestamp::now())
                    .await
                    .map_err(|e| e.to_string())?
                {
                    return Err(format!("org {o} has no key {key_id}"));
                }
                self_audit(
                    &store,
                    &org(&o)?,
                    Action::AuditLogKeyRevoked,
                    ("audit_log_key", &key_id, None),
                    &[],
                )
                .await;
                eprintln!("revoked {key_id}");
            }
        },
        Command::Orgs {
            command:
                OrgsCommand::Set {
                    org: o,
                    uses_teams,
                    retention_days,
                },
        } => {
            let retention_days =
                retention_days
                    .map(RetentionDays::new)
                    .transpose()
                    .map_err(|_| {
                        format!(
                        "--retention-days must be from {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS}"
                    )
                    })?;
            if uses_teams.is_none() && retention_days.is_none() {
                return Err("give --uses-teams or --retention-days (or both)".into());
            }
            let now = store
                .update_org_settings(
                    &org(&o)?,
                    OrgSettingsChange {
                        uses_teams,
                        retention_days,
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            eprintln!(
                "org {o}: uses_teams={}, retention_days={}",
                now.uses_teams, now.retention_days
            );
        }
    }
    Ok(())
}

fn parse_window(from: &str, to: &str) -> Result<audit_domain::export::ExportWindow, String> {
    let from = Timestamp::parse_lenient(from).map_err(|e| format!("--from {e}"))?;
    let to = Timestamp::parse_lenient(to).map_err(|e| format!("--to {e}"))?;
    if from >= to {
        return Err("--from must be before --to".into());
    }
    Ok(audit_domain::export::ExportWindow { from, to })
}

/// Records an operator's change in the org's own log (group `audit_log`);
/// a failure is reported but does not undo the change.
async fn self_audit(
    store: &audit_aws::store::Store,
    org: &OrgId,
    action: Action,
    resource: (&str, &str, Option<&str>),
    metadata: &[(&str, &str)],
) {
    let metadata = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    let actor = audit_aws::self_audit::operator_actor();
    if let Err(e) =
        audit_aws::self_audit::record(store, org, action, actor, resource, metadata).await
    {
        eprintln!(
            "auditctl: warning: could not record {} in the org's log: {e}",
            action.as_str()
        );
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `auditctl keys create --role` accepts every role the service knows, so the README's
    /// `--role viewer_issuer` works (it once did not).
    #[test]
    fn keys_create_accepts_every_role() {
        for role in Role::ALL {
            let parsed = Cli::try_parse_from([
                "auditctl",
                "keys",
                "create",
                "--org",
                "acme",
                "--role",
                role.as_str(),
            ]);
            assert!(parsed.is_ok(), "--role {} rejected", role.as_str());
        }
        let unknown = Cli::try_parse_from([
            "auditctl", "keys", "create", "--org", "acme", "--role", "owner",
        ]);
        assert!(unknown.is_err(), "an unknown role must be rejected");
    }
}
