//! Which URLs a delivery may reach. A customer names the URL, and the service calls it from inside
//! its own network: without these checks an endpoint could make the service call its cloud's
//! metadata service (169.254.169.254), a private network or itself. The URL is checked when it is
//! registered, and every address its host resolves to is checked again at each delivery (DNS can
//! change after registration), by [`check_address`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::model::error::Error;

/// The longest URL accepted.
pub const MAX_URL_LENGTH: usize = 2048;

/// Which targets a deployment's deliveries may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetPolicy {
    /// https, to public addresses only: every real deployment (template.yaml).
    PublicHttpsOnly,
    /// Also http and loopback or private addresses: the local stack and tests, whose receivers
    /// run on this machine.
    AllowLocal,
}

/// The setting that lets a deployment's deliveries reach local targets: `true` in the local stack
/// and tests, `false` (or unset) everywhere else.
pub const ALLOW_LOCAL_TARGETS_ENV: &str = "ALLOW_LOCAL_WEBHOOK_TARGETS";

impl TargetPolicy {
    /// The policy [`ALLOW_LOCAL_TARGETS_ENV`] sets; anything but `true`, `false` or unset is
    /// refused, so a typo cannot open local targets nor silently close them.
    pub fn from_setting(value: Option<&str>) -> Result<TargetPolicy, crate::model::config::ConfigError> {
        match value {
            None | Some("false") => Ok(TargetPolicy::PublicHttpsOnly),
            Some("true") => Ok(TargetPolicy::AllowLocal),
            Some(other) => Err(crate::model::config::ConfigError::Unusable {
                name: ALLOW_LOCAL_TARGETS_ENV,
                source: format!("expected true or false, got {other:?}").into(),
            }),
        }
    }

    /// The process's policy, from [`ALLOW_LOCAL_TARGETS_ENV`].
    pub fn from_env() -> Result<TargetPolicy, crate::model::config::ConfigError> {
        TargetPolicy::from_setting(std::env::var(ALLOW_LOCAL_TARGETS_ENV).ok().as_deref())
    }
}

/// An endpoint URL as registered, or a validation error saying what is wrong with it.
pub fn check_url(text: &str, policy: TargetPolicy) -> Result<Url, Error> {
    if text.len() > MAX_URL_LENGTH {
        return Err(Error::validation(format!("url: longer than {MAX_URL_LENGTH} characters")));
    }
    let url = Url::parse(text).map_err(|e| Error::validation(format!("url: not an absolute URL ({e})")))?;
    match (url.scheme(), policy) {
        ("https", _) | ("http", TargetPolicy::AllowLocal) => {}
        _ => return Err(Error::validation("url: must be an https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::validation("url: must not carry a user name or password"));
    }
    match url.host() {
        None => return Err(Error::validation("url: has no host")),
        Some(Host::Ipv4(ip)) => check_address(IpAddr::V4(ip), policy)?,
        Some(Host::Ipv6(ip)) => check_address(IpAddr::V6(ip), policy)?,
        Some(Host::Domain(name)) => {
            // Names that always mean this machine (RFC 6761); others are checked once resolved.
            let name = name.trim_end_matches('.');
            if policy == TargetPolicy::PublicHttpsOnly && (name == "localhost" || name.ends_with(".localhost")) {
                return Err(Error::validation("url: must not name this host (localhost)"));
            }
        }
    }
    Ok(url)
}

/// Whether a delivery may connect to `address` (one its URL's host resolved to).
pub fn check_address(address: IpAddr, policy: TargetPolicy) -> Result<(), Error> {
    match (policy, non_public(address)) {
        (TargetPolicy::PublicHttpsOnly, Some(kind)) => {
            Err(Error::validation(format!("url: {address} is a {kind} address, which deliveries may not reach")))
        }
        _ => Ok(()),
    }
}

/// What kind of non-public address this is, if it is one.
fn non_public(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        // 100.64.0.0/10: carrier-grade NAT, private to a provider's network.
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if a == 0 {
        Some("unspecified")
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some("multicast or broadcast")
    } else if a >= 240 || (a, b, c) == (192, 0, 0) || ip.is_documentation() || (a == 198 && (b == 18 || b == 19)) {
        // Reserved, IETF protocol assignments, documentation and benchmarking ranges.
        Some("reserved")
    } else {
        None
    }
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    // Addresses that carry an IPv4 address: mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96), 6to4
    // (2002::/16) and the deprecated compatible form (::/96). Each reaches that IPv4 address.
    let embedded = match segments {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some((hi, lo)),
        [0x2002, hi, lo, ..] => Some((hi, lo)),
        [0, 0, 0, 0, 0, 0, hi, lo] if (hi, lo) > (0, 1) => Some((hi, lo)),
        _ => None,
    };
    if let Some((hi, lo)) = embedded {
        let v4 = Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
        return non_public_v4(v4);
    }
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if segments[0] & 0xfe00 == 0xfc00 {
        // fc00::/7: unique local addresses.
        Some("private")
    } else if segments[0] & 0xffc0 == 0xfe80 || segments[0] & 0xffc0 == 0xfec0 {
        // fe80::/10 link-local, fec0::/10 the former site-local.
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast or broadcast")
    } else if (segments[0], segments[1]) == (0x2001, 0xdb8)
        || (segments[0], segments[1]) == (0x2001, 0)
        || (segments[0], segments[1], segments[2]) == (0x64, 0xff9b, 1)
        || (segments[0], segments[1], segments[2], segments[3]) == (0x100, 0, 0, 0)
    {
        // Documentation, Teredo tunnels, local-use NAT64 and the discard prefix.
        Some("reserved")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TargetPolicy::{AllowLocal, PublicHttpsOnly};

    #[test]
    fn only_true_allows_local_targets_and_a_typo_is_refused() {
        assert_eq!(TargetPolicy::from_setting(None).unwrap(), PublicHttpsOnly);
        assert_eq!(TargetPolicy::from_setting(Some("false")).unwrap(), PublicHttpsOnly);
        assert_eq!(TargetPolicy::from_setting(Some("true")).unwrap(), AllowLocal);
        let typo = TargetPolicy::from_setting(Some("yes")).unwrap_err();
        assert_eq!(typo.to_string(), "ALLOW_LOCAL_WEBHOOK_TARGETS is unusable");
    }

    #[test]
    fn public_addresses_are_reachable() {
        for address in ["8.8.8.8", "1.1.1.1", "52.94.236.248", "2606:4700:4700::1111", "2a05:d018::1", "::ffff:8.8.8.8"]
        {
            assert!(check_address(address.parse().unwrap(), PublicHttpsOnly).is_ok(), "{address}");
        }
    }

    #[test]
    fn loopback_private_link_local_and_reserved_addresses_are_refused_with_their_kind() {
        let cases = [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("::1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.254", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "private"),
            ("fd12:3456::1", "private"),
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("fec0::1", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast or broadcast"),
            ("255.255.255.255", "multicast or broadcast"),
            ("ff02::1", "multicast or broadcast"),
            ("192.0.2.10", "reserved"),
            ("198.18.0.1", "reserved"),
            ("240.0.0.1", "reserved"),
            ("2001:db8::1", "reserved"),
            ("2001:0:4136:e378::1", "reserved"),
            // IPv4 addresses written as IPv6 reach the IPv4 address.
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("64:ff9b::a00:1", "private"),
            ("2002:c0a8:101::1", "private"),
            ("::7f00:1", "loopback"),
        ];
        for (address, kind) in cases {
            let error = check_address(address.parse().unwrap(), PublicHttpsOnly).unwrap_err();
            let shown: IpAddr = address.parse().unwrap();
            assert_eq!(
                error.public_message(),
                format!("url: {shown} is a {kind} address, which deliveries may not reach"),
                "{address}"
            );
            assert!(check_address(shown, AllowLocal).is_ok(), "{address}");
        }
    }

    #[test]
    fn a_public_https_url_is_accepted() {
        let url = check_url("https://hooks.example.com/sequence?source=invoices", PublicHttpsOnly).unwrap();
        assert_eq!(url.as_str(), "https://hooks.example.com/sequence?source=invoices");
        assert_eq!(check_url("https://8.8.8.8:8443/in", PublicHttpsOnly).unwrap().port(), Some(8443));
    }

    #[test]
    fn urls_that_are_not_public_https_are_refused_with_the_reason() {
        let cases = [
            ("hooks.example.com/in", "url: not an absolute URL (relative URL without a base)"),
            ("http://hooks.example.com/in", "url: must be an https URL"),
            ("ftp://hooks.example.com/in", "url: must be an https URL"),
            ("https://user:pass@hooks.example.com/in", "url: must not carry a user name or password"),
            ("https://localhost:8443/in", "url: must not name this host (localhost)"),
            ("https://api.localhost./in", "url: must not name this host (localhost)"),
            ("https://127.0.0.1/in", "url: 127.0.0.1 is a loopback address, which deliveries may not reach"),
            ("https://[::1]/in", "url: ::1 is a loopback address, which deliveries may not reach"),
            (
                "https://169.254.169.254/latest/meta-data",
                "url: 169.254.169.254 is a link-local address, which deliveries may not reach",
            ),
            // Other spellings of an address are read as the address they mean.
            ("https://2130706433/in", "url: 127.0.0.1 is a loopback address, which deliveries may not reach"),
            ("https://0x7f.1/in", "url: 127.0.0.1 is a loopback address, which deliveries may not reach"),
        ];
        for (text, message) in cases {
            assert_eq!(check_url(text, PublicHttpsOnly).unwrap_err().public_message(), message, "{text}");
        }
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_LENGTH));
        assert_eq!(check_url(&long, PublicHttpsOnly).unwrap_err().public_message(), "url: longer than 2048 characters");
    }

    #[test]
    fn a_deployment_that_allows_local_targets_accepts_local_http() {
        for text in ["http://127.0.0.1:8080/in", "http://localhost:9000/hooks", "https://10.0.0.5/in"] {
            assert!(check_url(text, AllowLocal).is_ok(), "{text}");
        }
        assert_eq!(
            check_url("ftp://127.0.0.1/in", AllowLocal).unwrap_err().public_message(),
            "url: must be an https URL"
        );
    }
}
