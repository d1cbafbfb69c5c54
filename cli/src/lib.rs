//! `auditctl`'s library: building the functions' apps from the environment,
//! creating the local resources (`init`), and the local server (`serve`),
//! which hosts the very same handlers the Lambdas run.

pub mod server;

use std::sync::Arc;

use audit_log::access::Authenticator;
use audit_log::cursor::CursorCodec;
use audit_log::store::{Store, StoreError, Tables};

/// Everything the local server hosts, built once.
#[derive(Debug)]
pub struct Apps {
    pub ingest: ingest::App,
    pub query: query::App,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0} must be set")]
    MissingEnv(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The store from the standard environment (`AWS_ENDPOINT_URL_DYNAMODB`,
/// `AUDIT_EVENTS_TABLE`, `AUDIT_CONTROL_TABLE`).
pub async fn store_from_env() -> Store {
    let config = audit_log::aws_config().await;
    Store::new(aws_sdk_dynamodb::Client::new(&config), Tables::from_env())
}

/// Builds both apps over one store, as the two Lambdas would.
pub fn apps(store: Store, cursor_secret: &[u8], auth: fn() -> Authenticator) -> Arc<Apps> {
    Arc::new(Apps {
        ingest: ingest::App {
            store: store.clone(),
            auth: auth(),
        },
        query: query::App {
            store,
            auth: auth(),
            cursors: CursorCodec::new(cursor_secret.to_vec()),
        },
    })
}

pub fn cursor_secret_from_env() -> Result<Vec<u8>, SetupError> {
    std::env::var("AUDIT_CURSOR_SECRET")
        .map(String::into_bytes)
        .map_err(|_| SetupError::MissingEnv("AUDIT_CURSOR_SECRET"))
}
