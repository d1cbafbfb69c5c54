//! The policy every destination URL must pass before anything is sent to
//! it: https, no credentials, a public host. The public-only resolver in
//! `deliver` applies `is_public` again to what a name resolves to.

use std::net::IpAddr;

use audit_domain::problem::FieldError;

/// Whether destination URLs may be plain http or point at private
/// addresses: only for local development and tests
/// (`AUDIT_ALLOW_PRIVATE_DESTINATIONS=true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlPolicy {
    pub allow_private: bool,
}

impl UrlPolicy {
    pub fn from_env() -> Self {
        UrlPolicy {
            allow_private: std::env::var("AUDIT_ALLOW_PRIVATE_DESTINATIONS")
                .is_ok_and(|v| v == "true"),
        }
    }

    /// https with a host that is not an IP literal in a private, loopback
    /// or link-local range (the metadata service among them).
    pub fn check(&self, url: &str) -> Result<(), String> {
        let parsed = url::Url::parse(url).map_err(|_| "must be an absolute URL".to_string())?;
        if self.allow_private {
            return match parsed.scheme() {
                "https" | "http" => Ok(()),
                _ => Err("must be an http(s) URL".into()),
            };
        }
        if parsed.scheme() != "https" {
            return Err("must use https".into());
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("must not contain credentials".into());
        }
        let host = parsed.host_str().ok_or("must have a host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.eq_ignore_ascii_case("localhost")
            || host.ends_with(".localhost")
            || host.ends_with(".internal")
        {
            return Err("must point at a public address".into());
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            if !is_public(ip) {
                return Err("must point at a public address".into());
            }
        }
        Ok(())
    }

    /// The URL a destination sends to, built by its settings' `endpoint`
    /// from `base` (what the admin set in `field`, or what is derived from
    /// it), checked: the base, so a refusal is about the admin's own text,
    /// and the URL as it will be requested.
    pub fn endpoint(&self, field: &str, base: &str, url: String) -> Result<String, FieldError> {
        let refused = |reason: String| FieldError::new(field, reason);
        self.check(base).map_err(refused)?;
        self.check(&url).map_err(refused)?;
        Ok(url)
    }
}

/// Whether an address is on the public internet (not loopback, private,
/// link-local — the metadata service —, CGNAT, documentation or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1])
                || v4.octets()[0] == 0)
        }
        IpAddr::V6(v6) => {
            let seg0 = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (seg0 & 0xfe00) == 0xfc00
                || (seg0 & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| !is_public(IpAddr::V4(v4))))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: UrlPolicy = UrlPolicy {
        allow_private: false,
    };
    const LOCAL: UrlPolicy = UrlPolicy {
        allow_private: true,
    };

    #[test]
    fn plain_http_and_private_addresses_are_refused() {
        for url in [
            "http://hooks.example.com/x",
            "https://127.0.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.5/x",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://localhost:8088",
            "https://user:pw@hooks.example.com/",
        ] {
            assert!(STRICT.check(url).is_err(), "{url}");
        }
        assert!(STRICT.check("https://hooks.example.com/audit").is_ok());
        assert!(LOCAL.check("http://127.0.0.1:9999/x").is_ok());
        assert!(LOCAL.check("ftp://127.0.0.1/x").is_err());
    }

    #[test]
    fn an_endpoint_is_refused_naming_the_field_it_came_from() {
        let url = "https://10.0.0.5/x/api".to_string();
        let e = STRICT
            .endpoint("settings.intake_url", "https://10.0.0.5/x", url)
            .unwrap_err();
        assert_eq!(e.field, "settings.intake_url");
        assert_eq!(e.reason, "must point at a public address");
        let url = "https://h.example.com/api".to_string();
        assert_eq!(
            STRICT.endpoint("settings.url", "https://h.example.com", url.clone()),
            Ok(url)
        );
    }
}
