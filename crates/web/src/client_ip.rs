//! The client's address for per-client limits: the socket peer, or, when the peer is one of
//! our own proxies, the address that proxy recorded in `X-Forwarded-For`.
//!
//! Anyone can send `X-Forwarded-For`, so it is read only from a trusted peer, and only as far
//! as trusted hops vouch for it: walking the list right to left (each proxy appends the address
//! it saw), trusted proxies are skipped and the first other address is the client. Entries left
//! of it were written by the client and are ignored, so rotating them changes nothing.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use crate::error::ApiError;

/// A header longer than this many entries is not from proxies we run: the peer is used.
const MAX_HOPS: usize = 32;

/// An address range: an IP with a prefix length (`10.0.0.0/8`, `fd00::/8`); a bare IP is a
/// range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, prefix)) => (ip, Some(prefix)),
            None => (s, None),
        };
        let network = ip
            .parse::<IpAddr>()
            .map_err(|_| format!("`{s}` is not an IP address or CIDR range"))?
            .to_canonical();
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The proxies whose `X-Forwarded-For` we believe; empty (the default): none, the socket peer
/// is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    /// The client of a request that arrived from `peer` with these headers.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        // Several header lines are one list, in order (RFC 9110 §5.3).
        let mut hops = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(value) = value.to_str() else {
                return peer;
            };
            hops.extend(value.split(','));
        }
        if hops.len() > MAX_HOPS {
            return peer;
        }
        let mut farthest = None;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                return peer;
            };
            if !self.contains(ip) {
                return ip;
            }
            farthest = Some(ip);
        }
        // Every hop is one of ours (a request from inside): the farthest one sent it.
        farthest.unwrap_or(peer)
    }
}

/// One `X-Forwarded-For` entry: an IP, or an IP with a port (`1.2.3.4:5`, `[::1]:5`), which
/// some proxies write.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list of IPs and CIDR ranges; empty: none.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .filter(|part| !part.trim().is_empty())
            .map(Cidr::from_str)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ranges: Vec<String> = self.0.iter().map(Cidr::to_string).collect();
        f.write_str(&ranges.join(","))
    }
}

/// The client's address, as [`TrustedProxies::client_ip`] finds it. The state provides the
/// trusted proxies; the server must be served with `ConnectInfo<SocketAddr>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    Arc<TrustedProxies>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("served without ConnectInfo<SocketAddr>")))?;
        let trusted = Arc::<TrustedProxies>::from_ref(state);
        Ok(ClientIp(trusted.client_ip(peer.ip(), &parts.headers)))
    }
}

impl ClientIp {
    /// What per-client limits count by: the address, or for IPv6 its /64 network. One
    /// household or host usually holds a whole /64 (SLAAC, privacy addresses), so counting
    /// single IPv6 addresses would let one client pick a fresh address per attempt.
    pub fn limit_key(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let network = u128::from(v6) & !((1u128 << 64) - 1);
                    format!("{}/64", std::net::Ipv6Addr::from(network))
                }
            },
        }
    }
}

impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64_network() {
        let key = |s: &str| ClientIp(ip(s)).limit_key();
        assert_eq!(key("203.0.113.7"), "203.0.113.7");
        assert_eq!(
            key("::ffff:203.0.113.7"),
            "203.0.113.7",
            "an IPv4-mapped address is its IPv4 one"
        );
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(
            key("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64",
            "the same /64"
        );
        assert_ne!(
            key("2001:db8:1:3::1"),
            key("2001:db8:1:2::1"),
            "the next /64 is another client"
        );
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn proxies(s: &str) -> TrustedProxies {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let none = TrustedProxies::none();
        assert_eq!(
            none.client_ip(ip("198.51.100.7"), &headers(&["203.0.113.1"])),
            ip("198.51.100.7")
        );
        let some = proxies("10.0.0.0/8");
        assert_eq!(
            some.client_ip(ip("198.51.100.7"), &headers(&["203.0.113.1"])),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn a_trusted_peer_is_believed_from_the_right_up_to_the_first_untrusted_hop() {
        let trusted = proxies("10.0.0.0/8, 192.0.2.9");
        let peer = ip("10.1.2.3");
        // The client rotates whatever it writes on the left; the hop our proxy added stays.
        for forged in ["1.1.1.1", "2.2.2.2, 3.3.3.3", "10.9.9.9"] {
            assert_eq!(
                trusted.client_ip(
                    peer,
                    &headers(&[&format!("{forged}, 203.0.113.1, 192.0.2.9, 10.0.0.4")])
                ),
                ip("203.0.113.1"),
                "{forged}"
            );
        }
        // Several header lines form one list, in order.
        assert_eq!(
            trusted.client_ip(peer, &headers(&["1.1.1.1, 203.0.113.5", "192.0.2.9"])),
            ip("203.0.113.5")
        );
        // Ports and IPv6 as some proxies write them.
        assert_eq!(
            trusted.client_ip(peer, &headers(&["203.0.113.1:4711"])),
            ip("203.0.113.1")
        );
        assert_eq!(
            trusted.client_ip(peer, &headers(&["[2001:db8::1]:443"])),
            ip("2001:db8::1")
        );
        assert_eq!(trusted.client_ip(peer, &headers(&[" 2001:db8::2 "])), ip("2001:db8::2"));
    }

    #[test]
    fn without_a_usable_header_a_trusted_peer_is_the_client() {
        let trusted = proxies("10.0.0.0/8");
        let peer = ip("10.1.2.3");
        assert_eq!(trusted.client_ip(peer, &HeaderMap::new()), peer);
        for malformed in [
            "",
            "not-an-ip",
            "203.0.113.1,",
            "1.2.3.4.5",
            "203.0.113.1, unknown",
            "300.1.1.1",
        ] {
            assert_eq!(trusted.client_ip(peer, &headers(&[malformed])), peer, "{malformed:?}");
        }
        // A malformed entry left of the client's hop is never reached.
        assert_eq!(
            trusted.client_ip(peer, &headers(&["garbage, 203.0.113.1"])),
            ip("203.0.113.1")
        );
        let mut bytes = HeaderMap::new();
        bytes.insert("x-forwarded-for", HeaderValue::from_bytes(b"203.0.113.1\xff").unwrap());
        assert_eq!(trusted.client_ip(peer, &bytes), peer);
        let long = vec!["203.0.113.1"; MAX_HOPS + 1].join(",");
        assert_eq!(trusted.client_ip(peer, &headers(&[&long])), peer);
    }

    #[test]
    fn a_request_from_inside_is_its_farthest_hop() {
        let trusted = proxies("10.0.0.0/8");
        assert_eq!(
            trusted.client_ip(ip("10.1.2.3"), &headers(&["10.0.0.7, 10.0.0.4"])),
            ip("10.0.0.7")
        );
    }

    #[test]
    fn ranges_parse_and_match() {
        let trusted = proxies("127.0.0.1,10.0.0.0/8,fd00::/8");
        assert!(trusted.contains(ip("127.0.0.1")));
        assert!(!trusted.contains(ip("127.0.0.2")));
        assert!(trusted.contains(ip("10.255.0.1")));
        assert!(!trusted.contains(ip("11.0.0.1")));
        assert!(trusted.contains(ip("fd12::1")));
        assert!(!trusted.contains(ip("fe80::1")));
        // An IPv4 peer on a dual-stack socket.
        assert!(trusted.contains(ip("::ffff:10.0.0.1")));
        assert!(proxies("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(proxies("").is_empty());
        assert!(proxies(" , ").is_empty());
        assert_eq!(trusted.to_string(), "127.0.0.1/32,10.0.0.0/8,fd00::/8");
        for bad in ["10.0.0.0/33", "fd00::/129", "10.0.0.0/x", "example.com", "10.0.0.0/8/8"] {
            assert!(bad.parse::<TrustedProxies>().is_err(), "{bad}");
        }
    }
}
