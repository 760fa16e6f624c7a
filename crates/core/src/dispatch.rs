//! Which handling unit a case goes to by the rules (派单规则): a dispatch
//! rule for its category at the nearest place above it, else the nearest
//! unit of the category's default kind. "Above" follows the org path from
//! the case's own place up to the root.

use crate::msg::Msg;

/// "/1/4/17/" → ["/1/4/17/", "/1/4/", "/1/"]: nearest first.
pub fn ancestor_paths(path: &str) -> Vec<String> {
    let ids: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    (1..=ids.len())
        .rev()
        .map(|n| format!("/{}/", ids[..n].join("/")))
        .collect()
}

/// A rule "this category at this place goes to this unit".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The org path of the place the rule is set at.
    pub place: String,
    pub unit: i64,
}

/// A handling unit as dispatch sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitAt {
    pub id: i64,
    /// The org path the unit is attached to.
    pub place: String,
    pub kind: String,
}

/// The unit a case at `place` goes to: the rule at the nearest place above
/// (whatever its unit's kind), else the nearest unit of `default_kind`.
/// `rules` are the rules of the case's category.
pub fn choose_unit(
    place: &str,
    rules: &[Rule],
    units: &[UnitAt],
    default_kind: Option<&str>,
) -> Option<i64> {
    let ancestors = ancestor_paths(place);
    for path in &ancestors {
        if let Some(r) = rules.iter().find(|r| &r.place == path) {
            return units.iter().find(|u| u.id == r.unit).map(|u| u.id);
        }
    }
    let kind = default_kind?;
    ancestors.iter().find_map(|path| {
        units
            .iter()
            .find(|u| &u.place == path && u.kind == kind)
            .map(|u| u.id)
    })
}

/// Checks a handling unit's webhook URL: http or https, and not a
/// link-local, unspecified, multicast or broadcast address (169.254.169.254
/// is the cloud's metadata service: a webhook there would leak the
/// server's credentials). Private and loopback addresses are allowed: a
/// unit's system often lives on the government intranet (政务外网).
pub fn check_webhook_url(url: &str) -> Result<(), Msg> {
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Err(Msg::new(
            "must start with http:// or https://",
            "须以 http:// 或 https:// 开头",
        ));
    };
    // (The URL rules would take http:///path for the host "path".)
    if rest.is_empty() || rest.starts_with(['/', '\\', '?', '#', '@']) {
        return Err(Msg::new("has no host", "缺少主机名"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Msg::new("must not contain spaces", "不能含有空格"));
    }
    // Read as the HTTP client reads it (the WHATWG rules): 2852039166,
    // 0xa9fea9fe, 0251.0376.0251.0376, 169.254.169.254. and
    // 169.254.169.254\@host are all the metadata service's address.
    let parsed = url::Url::parse(url)
        .map_err(|e| Msg::new(format!("is not a URL ({e})"), "不是有效的网址".to_string()))?;
    let address = match parsed.host() {
        None => return Err(Msg::new("has no host", "缺少主机名")),
        Some(url::Host::Domain(_)) => None,
        Some(url::Host::Ipv4(a)) => Some(std::net::IpAddr::V4(a)),
        Some(url::Host::Ipv6(a)) => Some(std::net::IpAddr::V6(a)),
    };
    if let Some(ip) = address.filter(|ip| refused_webhook_address(*ip)) {
        return Err(Msg::new(
            format!("{ip} is a link-local, unspecified or multicast address"),
            format!("{ip} 是链路本地、未指定或组播地址，不能用作通知地址"),
        ));
    }
    Ok(())
}

/// An address no webhook may reach: link-local (169.254.169.254 is the
/// metadata service of most clouds), the metadata services that are not
/// link-local (Alibaba Cloud's 100.100.100.200, AWS's fd00:ec2::254),
/// unspecified, multicast or broadcast; also when written as an IPv6
/// address that carries an IPv4 one (::ffff:a.b.c.d, ::a.b.c.d, NAT64
/// 64:ff9b::/96, 6to4 2002::/16). Checked when a URL is saved and again on
/// every address a host name resolves to when it is sent.
pub fn refused_webhook_address(ip: std::net::IpAddr) -> bool {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    match ip {
        IpAddr::V4(a) => {
            a.is_link_local()
                || a.is_unspecified()
                || a.is_multicast()
                || a.is_broadcast()
                || a == Ipv4Addr::new(100, 100, 100, 200)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            let embedded = if s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0; 4] {
                Some(Ipv4Addr::from(u32::from(s[6]) << 16 | u32::from(s[7])))
            } else if s[0] == 0x2002 {
                Some(Ipv4Addr::from(u32::from(s[1]) << 16 | u32::from(s[2])))
            } else {
                a.to_ipv4()
            };
            if let Some(v4) = embedded.filter(|_| !a.is_loopback()) {
                return refused_webhook_address(IpAddr::V4(v4));
            }
            (s[0] & 0xffc0) == 0xfe80
                || a.is_unspecified()
                || a.is_multicast()
                || a == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_avoid_the_metadata_service() {
        for ok in [
            "https://unit.example/hook",
            "http://10.1.2.3:8080/x",
            "http://127.0.0.1:9/h",
            "http://[::1]:80/",
        ] {
            assert_eq!(check_webhook_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "ftp://x/",
            "http://169.254.169.254/latest/meta-data",
            "http://user@169.254.169.254:80/",
            "http://[fe80::1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://2852039166/",
            "http://0xa9fea9fe/",
            "http://0251.0376.0251.0376/",
            "http://169.254.43518/",
            "http://169.254.169.254./",
            "http://0/",
            "http://169.254.169.254\\@good.example/",
            "http://%31%36%39.254.169.254/",
            "http://[fe80::1%25lo]/",
            "http://100.100.100.200/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://[::169.254.169.254]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://0.0.0.0/",
            "http://224.0.0.1/",
            "http:///path",
            "http://a b/",
        ] {
            assert!(check_webhook_url(bad).is_err(), "{bad}");
        }
    }

    fn unit(id: i64, place: &str, kind: &str) -> UnitAt {
        UnitAt {
            id,
            place: place.into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn ancestors_nearest_first() {
        assert_eq!(ancestor_paths("/1/4/17/"), vec!["/1/4/17/", "/1/4/", "/1/"]);
        assert!(ancestor_paths("/").is_empty());
    }

    #[test]
    fn rules_then_the_nearest_unit_of_the_kind() {
        let units = [
            unit(1, "/1/", "urban_management"),
            unit(2, "/1/4/", "urban_management"),
            unit(3, "/1/4/17/", "property"),
            unit(4, "/1/5/", "urban_management"),
        ];
        let um = Some("urban_management");
        // No rule: the nearest unit of the kind above the place.
        assert_eq!(choose_unit("/1/4/17/30/", &[], &units, um), Some(2));
        assert_eq!(choose_unit("/1/6/", &[], &units, um), Some(1));
        assert_eq!(
            choose_unit("/1/4/17/", &[], &units, Some("property")),
            Some(3)
        );
        // A unit beside the place (another branch) does not serve it.
        assert_eq!(choose_unit("/1/6/", &[], &units, Some("property")), None);
        assert_eq!(choose_unit("/1/4/", &[], &units, None), None);
        // A rule at a nearer place wins over a unit of the kind, whatever its kind.
        let rules = [
            Rule {
                place: "/1/4/17/".into(),
                unit: 3,
            },
            Rule {
                place: "/1/".into(),
                unit: 4,
            },
        ];
        assert_eq!(choose_unit("/1/4/17/30/", &rules, &units, um), Some(3));
        // A rule further up beats the default kind below it.
        assert_eq!(choose_unit("/1/4/18/", &rules, &units, um), Some(4));
        // A rule naming a unit that no longer exists dispatches to nobody.
        let gone = [Rule {
            place: "/1/4/".into(),
            unit: 99,
        }];
        assert_eq!(choose_unit("/1/4/", &gone, &units, um), None);
    }
}
