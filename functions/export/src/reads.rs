//! One read of a window's page for every job that wants it at the same time.
//!
//! A tick cuts every destination of an org the same window when their
//! cursors agree (the usual case: each healthy destination is caught up),
//! and a worker batch runs those jobs side by side. Each used to read the
//! same events from DynamoDB: three destinations, three reads and three
//! copies in memory. Now the first job reads the page and the others take
//! it. Nothing is kept past the jobs: a page lives while a job that asked
//! for it holds it, and a job holds at most two (the part it sends and the
//! next, read meanwhile), so the map holds at most two entries per running
//! job.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::OnceCell;

use audit_aws::store::{StoreError, WindowPage};
use audit_domain::export::ExportWindow;
use audit_domain::ids::OrgId;

/// What decides a page's events: the same key, the same events (a page's
/// bounds are the app's, the same for every job of one `SharedReads`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    org: String,
    from_ms: i64,
    to_ms: i64,
    resume_after: Option<String>,
}

impl PageKey {
    pub fn new(org: &OrgId, window: &ExportWindow, resume_after: Option<&str>) -> Self {
        PageKey {
            org: org.to_string(),
            from_ms: window.from.millis(),
            to_ms: window.to.millis(),
            resume_after: resume_after.map(str::to_owned),
        }
    }
}

type Slot = OnceCell<Arc<WindowPage>>;

/// The pages running jobs hold, by key.
#[derive(Default)]
pub struct SharedReads {
    held: Mutex<HashMap<PageKey, Weak<Slot>>>,
}

/// A page, held: others asking for the same key get it while this lives.
pub struct HeldPage {
    _slot: Arc<Slot>,
    pub page: Arc<WindowPage>,
}

impl SharedReads {
    /// The page for `key`: another running job's, or `read`'s. A failed
    /// read is not shared: the next job to ask reads again.
    pub async fn page<F, Fut>(&self, key: PageKey, read: F) -> Result<HeldPage, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<WindowPage, StoreError>>,
    {
        let slot = {
            let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
            held.retain(|_, slot| slot.strong_count() > 0);
            match held.get(&key).and_then(Weak::upgrade) {
                Some(slot) => slot,
                None => {
                    let slot = Arc::new(Slot::new());
                    held.insert(key, Arc::downgrade(&slot));
                    slot
                }
            }
        };
        let page = slot
            .get_or_try_init(|| async { read().await.map(Arc::new) })
            .await?
            .clone();
        Ok(HeldPage { _slot: slot, page })
    }

    /// How many pages running jobs hold.
    pub fn held(&self) -> usize {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.values().filter(|slot| slot.strong_count() > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_domain::time::Timestamp;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn key(org: &str, resume_after: Option<&str>) -> PageKey {
        let window = ExportWindow {
            from: Timestamp::from_millis(0).unwrap(),
            to: Timestamp::from_millis(1_000).unwrap(),
        };
        PageKey::new(&OrgId::parse(org).unwrap(), &window, resume_after)
    }

    fn page(marker: &str) -> WindowPage {
        WindowPage {
            events: Vec::new(),
            resume_after: Some(marker.to_owned()),
        }
    }

    #[tokio::test]
    async fn jobs_at_the_same_time_share_one_read_and_nothing_outlives_them() {
        let reads = SharedReads::default();
        let count = AtomicUsize::new(0);
        let read = |marker: &'static str| {
            let count = &count;
            move || async move {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                Ok(page(marker))
            }
        };
        let (a, b) = tokio::join!(
            reads.page(key("org_a", None), read("first")),
            reads.page(key("org_a", None), read("second")),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(count.load(Ordering::SeqCst), 1, "one read for both");
        assert!(Arc::ptr_eq(&a.page, &b.page));
        assert_eq!(reads.held(), 1);

        // Another org, or another part of the window, is its own read.
        let other = reads.page(key("org_b", None), read("b")).await.unwrap();
        let later = reads
            .page(key("org_a", Some("x")), read("part"))
            .await
            .unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 3);
        assert_eq!(other.page.resume_after.as_deref(), Some("b"));
        assert_eq!(later.page.resume_after.as_deref(), Some("part"));

        // Once every job let go, the same key is read again.
        drop((a, b, other, later));
        assert_eq!(reads.held(), 0);
        let again = reads.page(key("org_a", None), read("again")).await.unwrap();
        assert_eq!(again.page.resume_after.as_deref(), Some("again"));
        assert_eq!(count.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_failed_read_is_not_shared() {
        let reads = SharedReads::default();
        let failed = reads
            .page(key("org_a", None), || async {
                Err(StoreError::Corrupt("test".into()))
            })
            .await;
        assert!(failed.is_err());
        let next = reads
            .page(key("org_a", None), || async { Ok(page("ok")) })
            .await
            .unwrap();
        assert_eq!(next.page.resume_after.as_deref(), Some("ok"));
    }
}
