//! Which addresses a webhook may reach (API.md: `webhook_allowed_hosts`). A URL is checked
//! when it is registered, and every attempt resolves its host through [`CheckedResolver`],
//! which drops refused addresses — so a name that later resolves to `127.0.0.1` (DNS
//! rebinding) is not reached either. Redirects are never followed (see `super::client`).

use crate::config::HostList;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why a URL was refused (the message says what to change).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// The allowed hosts, and the rule for every other address.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    allowed: Vec<String>,
}

impl HostPolicy {
    /// The policy of `webhook_allowed_hosts`.
    pub fn new(allowed: &HostList) -> Self {
        Self {
            allowed: allowed.0.clone(),
        }
    }

    fn listed(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
    }

    /// Whether `ip`, an address of `host`, may be reached.
    pub fn address_ok(&self, host: &str, ip: IpAddr) -> bool {
        is_public(ip) || self.listed(host) || self.listed(&ip.to_string())
    }

    /// Checks a URL to register: `http(s)`, a host, and every address it resolves to allowed.
    pub async fn check(&self, url: &str) -> Result<reqwest::Url, Refused> {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| Refused(format!("`{url}` is not a URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Refused(
                "only http:// and https:// URLs can be webhooks".into(),
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Refused(
                "put no user or password in the URL; deliveries are signed instead".into(),
            ));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| Refused("the URL has no host".into()))?
            .to_string();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<IpAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|e| Refused(format!("the host `{host}` does not resolve ({e})")))?
                .map(|a| a.ip())
                .collect(),
        };
        if addrs.is_empty() {
            return Err(Refused(format!("the host `{host}` has no address")));
        }
        if let Some(ip) = addrs.iter().find(|ip| !self.address_ok(&host, **ip)) {
            return Err(Refused(format!(
                "the host `{host}` is at {ip}, a loopback, private or link-local address; \
                 list it in webhook_allowed_hosts to allow it"
            )));
        }
        Ok(parsed)
    }
}

/// Whether `ip` is an ordinary address on the internet: not loopback, private, link-local
/// (cloud metadata lives there), shared, unspecified, broadcast, multicast, documentation or
/// reserved — nor an IPv6 form of one.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return public_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
}

/// The resolver of the webhook client: the system's, less every refused address.
pub struct CheckedResolver {
    policy: Arc<HostPolicy>,
}

impl CheckedResolver {
    /// A resolver applying `policy`.
    pub fn new(policy: Arc<HostPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| policy.address_ok(&host, a.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(Refused(format!(
                    "`{host}` resolves to no allowed address (see webhook_allowed_hosts)"
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_and_public_ones_reached() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public(refused.parse().unwrap()), "{refused}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn a_url_must_be_http_and_reach_an_allowed_address() {
        let none = HostPolicy::default();
        for bad in [
            "ftp://example.org/x",
            "file:///etc/passwd",
            "http://127.0.0.1:9/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost/hook",
            "http://user:pw@93.184.216.34/",
            "not a url",
        ] {
            assert!(none.check(bad).await.is_err(), "{bad}");
        }
        assert!(none.check("https://93.184.216.34/hook").await.is_ok());
        let listed = HostPolicy::new(&HostList(vec!["127.0.0.1".into(), "localhost".into()]));
        assert!(listed.check("http://127.0.0.1:9/hook").await.is_ok());
        assert!(listed.check("http://localhost:9/hook").await.is_ok());
        assert!(listed.check("http://10.0.0.1/hook").await.is_err());
    }
}
