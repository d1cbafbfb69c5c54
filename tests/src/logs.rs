//! Captures every log line a test binary writes (DEBUG and up, plain text),
//! so tests can prove that no secret ever reaches a log.

use std::sync::{Mutex, OnceLock};

static LOGS: OnceLock<&'static Mutex<Vec<u8>>> = OnceLock::new();

/// Installs the capturing subscriber (once per test binary).
pub fn capture() {
    LOGS.get_or_init(|| {
        let buffer: &'static Mutex<Vec<u8>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || Writer(buffer))
            .try_init();
        buffer
    });
}

/// Everything captured so far.
pub fn captured() -> String {
    capture();
    LOGS.get()
        .map(|b| String::from_utf8_lossy(&b.lock().unwrap_or_else(|p| p.into_inner())).into_owned())
        .unwrap_or_default()
}

struct Writer(&'static Mutex<Vec<u8>>);

impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
