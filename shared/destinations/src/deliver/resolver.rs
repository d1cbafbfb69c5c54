//! The DNS resolver every HTTP delivery uses: a destination host must
//! resolve to public addresses, whatever it resolved to when it was
//! configured (IP literals are checked by the URL policy instead).

/// Resolves destination hosts with the system resolver and keeps only public
/// addresses (unless the local-development setting allows private ones).
pub(super) struct PublicOnlyResolver {
    pub(super) allow_private: bool,
    /// Names answered without DNS (tests map a name to loopback); what they
    /// map to is checked like any answer.
    pub(super) hosts: std::collections::HashMap<String, std::net::IpAddr>,
}

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_string();
        let fixed = self.hosts.get(&host.to_ascii_lowercase()).copied();
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> = match fixed {
                Some(ip) => vec![std::net::SocketAddr::new(ip, 0)],
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            let kept = public_only(found, allow_private);
            if kept.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn public_only(found: Vec<std::net::SocketAddr>, allow_private: bool) -> Vec<std::net::SocketAddr> {
    found
        .into_iter()
        .filter(|a| allow_private || crate::url_policy::is_public(a.ip()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolving_to_private_addresses_are_refused() {
        let addrs: Vec<std::net::SocketAddr> = [
            "127.0.0.1:0",
            "169.254.169.254:0",
            "10.1.2.3:0",
            "93.184.216.34:0",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        assert_eq!(public_only(addrs.clone(), false), vec![addrs[3]]);
        assert_eq!(public_only(addrs.clone(), true), addrs);
    }

    #[tokio::test]
    async fn localhost_by_name_is_refused_without_the_local_setting() {
        use reqwest::dns::Resolve;
        let strict = PublicOnlyResolver {
            allow_private: false,
            hosts: Default::default(),
        };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(strict.resolve(name).await.is_err());
        let local = PublicOnlyResolver {
            allow_private: true,
            hosts: Default::default(),
        };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(local.resolve(name).await.is_ok());
    }
}
