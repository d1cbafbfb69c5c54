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

    /// https, no credentials, and a host that is neither a local name
    /// (`localhost`, `*.localhost`, `*.internal`, with or without a trailing
    /// dot, after IDNA) nor a non-public IP literal in any notation (the
    /// `url` crate turns decimal, octal and hex IPv4 into dotted form).
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
        let public = match parsed.host().ok_or("must have a host")? {
            url::Host::Ipv4(v4) => is_public(IpAddr::V4(v4)),
            url::Host::Ipv6(v6) => is_public(IpAddr::V6(v6)),
            url::Host::Domain(name) => !is_local_name(name),
        };
        if public {
            Ok(())
        } else {
            Err("must point at a public address".into())
        }
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

/// Whether a host name (already IDNA-mapped to ASCII by `url`) names this
/// machine or the private network, whatever the trailing dots.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.is_empty()
        || name == "localhost"
        || name.ends_with(".localhost")
        || name == "internal"
        || name.ends_with(".internal")
        // A name that still parses as an address (the url crate leaves some
        // forms as names) is judged as one.
        || name.parse::<IpAddr>().is_ok_and(|ip| !is_public(ip))
}

/// Whether an address is on the public internet: not loopback, private,
/// link-local (the metadata service), CGNAT, documentation, benchmarking,
/// reserved, multicast, broadcast or unspecified; an IPv6 address that
/// embeds an IPv4 one (mapped, compatible, NAT64, 6to4, Teredo) is judged
/// by the IPv4 address too.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(v4: std::net::Ipv4Addr) -> bool {
    let [a, b, c, _] = v4.octets();
    !(v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_unspecified()
        || v4.is_broadcast()
        || v4.is_documentation()
        || v4.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, 192.0.0.0/24.
        || (a == 192 && b == 0 && c == 0)
        // Benchmarking, 198.18.0.0/15.
        || (a == 198 && (b == 18 || b == 19))
        // Reserved, 240.0.0.0/4 (broadcast included).
        || a >= 240)
}

fn is_public_v6(v6: std::net::Ipv6Addr) -> bool {
    use std::net::Ipv4Addr;
    let seg = v6.segments();
    let low_v4 = Ipv4Addr::new(
        (seg[6] >> 8) as u8,
        seg[6] as u8,
        (seg[7] >> 8) as u8,
        seg[7] as u8,
    );
    if v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() {
        return false;
    }
    // IPv4-mapped ::ffff:0:0/96 and IPv4-compatible ::/96.
    if seg[..5] == [0; 5] && (seg[5] == 0xffff || seg[5] == 0) {
        return is_public_v4(low_v4);
    }
    let embedded_refused = match seg[0] {
        // Unique local fc00::/7, link-local fe80::/10, site-local fec0::/10.
        s if (s & 0xfe00) == 0xfc00 || (s & 0xffc0) == 0xfe80 || (s & 0xffc0) == 0xfec0 => true,
        // NAT64 64:ff9b::/96 and the local-use 64:ff9b:1::/48.
        0x0064 if seg[1] == 0xff9b => true,
        // 6to4 2002::/16 carries an IPv4 address in bits 16..48.
        0x2002 => {
            let v4 = Ipv4Addr::new(
                (seg[1] >> 8) as u8,
                seg[1] as u8,
                (seg[2] >> 8) as u8,
                seg[2] as u8,
            );
            !is_public_v4(v4)
        }
        // Teredo 2001::/32, ORCHID 2001:10::/28 and 2001:20::/28,
        // benchmarking 2001:2::/48, documentation 2001:db8::/32.
        0x2001 => {
            seg[1] == 0
                || seg[1] == 0x0db8
                || (seg[1] == 0x0002 && seg[2] == 0)
                || (seg[1] & 0xfff0) == 0x0010
                || (seg[1] & 0xfff0) == 0x0020
        }
        // Documentation 3fff::/20, discard-only 100::/64.
        0x3fff if seg[1] < 0x1000 => true,
        0x0100 if seg[1..4] == [0; 3] => true,
        _ => false,
    };
    !embedded_refused
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
            "https://localhost./",
            "https://LOCALHOST../",
            "https://api.localhost/",
            "https://metadata.google.internal/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://0177.0.0.1/",
            "https://[64:ff9b::7f00:1]/",
            "https://[64:ff9b:1::a00:5]/",
            "https://[2002:7f00:1::]/",
            "https://[2001::1]/",
            "https://[::7f00:1]/",
            "https://[::ffff:10.0.0.5]/",
            "https://[ff02::1]/",
            "https://[2001:db8::1]/",
            "https://198.18.0.1/",
            "https://240.0.0.1/",
            "https://224.0.0.1/",
            "https://255.255.255.255/",
            "https://100.64.0.1/",
            "https://192.0.2.1/",
            "https://\u{217c}ocalhost/",
        ] {
            assert!(STRICT.check(url).is_err(), "{url}");
        }
        assert!(STRICT.check("https://hooks.example.com/audit").is_ok());
        assert!(STRICT.check("https://93.184.216.34/audit").is_ok());
        assert!(STRICT.check("https://[2606:4700::1111]/").is_ok());
        assert!(STRICT.check("https://[2002:5db8:d822::1]/").is_ok());
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
