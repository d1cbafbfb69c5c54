//! Captures every log line a test binary writes (DEBUG and up, plain text),
//! so tests can prove that no secret ever reaches a log.

use std::sync::{Mutex, Once};

use tracing_subscriber::fmt::MakeWriter;

/// What the subscriber wrote (tracing-subscriber writes to a `Mutex<W>`).
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static INSTALLED: Once = Once::new();

/// Installs the capturing subscriber (once per test binary).
pub fn capture() {
    INSTALLED.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(|| LOGS.make_writer())
            .try_init();
    });
}

/// Everything captured so far.
pub fn captured() -> String {
    capture();
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}
