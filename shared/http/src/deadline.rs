//! When the invocation must have answered: Lambda's deadline for the
//! request, from the runtime's context; none when served locally.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use http::request::Parts;

/// The invocation's deadline, or `None` off Lambda (`auditctl serve`, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(pub Option<SystemTime>);

impl Deadline {
    /// How long is left before the deadline less `margin`, capped at `cap`
    /// (all of `cap` when there is no deadline; zero once it has passed).
    pub fn remaining(self, margin: Duration, cap: Duration) -> Duration {
        match self.0 {
            None => cap,
            Some(at) => at
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
                .saturating_sub(margin)
                .min(cap),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Deadline {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let at = parts
            .extensions
            .get::<lambda_http::Context>()
            .filter(|c| c.deadline > 0)
            .map(|c| UNIX_EPOCH + Duration::from_millis(c.deadline));
        Ok(Deadline(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn extract(req: http::Request<()>) -> Deadline {
        let (mut parts, ()) = req.into_parts();
        Deadline::from_request_parts(&mut parts, &()).await.unwrap()
    }

    #[tokio::test]
    async fn a_local_request_has_no_deadline_and_the_whole_cap() {
        let d = extract(http::Request::new(())).await;
        assert_eq!(d, Deadline(None));
        let cap = Duration::from_secs(6);
        assert_eq!(d.remaining(Duration::from_secs(2), cap), cap);
    }

    #[tokio::test]
    async fn a_lambda_request_keeps_a_margin_before_its_deadline() {
        let at = SystemTime::now() + Duration::from_secs(5);
        let millis = at.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let mut context = lambda_http::Context::default();
        context.deadline = millis;
        let mut req = http::Request::new(());
        req.extensions_mut().insert(context);
        let d = extract(req).await;
        let left = d.remaining(Duration::from_secs(2), Duration::from_secs(6));
        assert!(
            left <= Duration::from_secs(3) && left > Duration::from_secs(2),
            "{left:?}"
        );
        let past = Deadline(Some(SystemTime::now() - Duration::from_secs(1)));
        assert_eq!(
            past.remaining(Duration::ZERO, Duration::from_secs(6)),
            Duration::ZERO
        );
    }
}
