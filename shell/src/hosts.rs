//! Host arguments: crash's forms `host`, `host:port`, `:port`, `:` and full URLs
//! (`http://host:port`) become server base URLs such as `http://localhost:4200`.

/// CrateDB's default HTTP port.
pub const DEFAULT_PORT: u16 = 4200;
/// The host used when none is given.
pub const DEFAULT_HOST: &str = "localhost";

/// One server to talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or address (IPv6 addresses keep their brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Host {
    /// The base URL, e.g. `http://localhost:4200`.
    pub fn url(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

/// Parses one host argument.
pub fn parse_host(arg: &str) -> Result<Host, String> {
    let arg = arg.trim();
    let (scheme, rest) = match arg.split_once("://") {
        Some((s, rest)) => {
            let s = s.to_ascii_lowercase();
            if s != "http" && s != "https" {
                return Err(format!(
                    "unsupported scheme in host {arg:?} (use http or https)"
                ));
            }
            (s, rest)
        }
        None => ("http".to_string(), arg),
    };
    // Drop any path, e.g. `http://host:4200/`.
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        // [v6]:port
        let (addr, tail) = after
            .split_once(']')
            .ok_or_else(|| format!("invalid host {arg:?}: missing ']'"))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p),
            None if tail.is_empty() => None,
            None => return Err(format!("invalid host {arg:?}")),
        };
        (format!("[{addr}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        None | Some("") => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("invalid port in host {arg:?}"))?,
    };
    let host = if host.is_empty() {
        DEFAULT_HOST.to_string()
    } else {
        host
    };
    if host.contains(char::is_whitespace) {
        return Err(format!("invalid host {arg:?}"));
    }
    Ok(Host { scheme, host, port })
}

/// Parses host arguments; each argument may also hold several hosts separated by
/// commas or spaces. No arguments means `localhost:4200`.
pub fn parse_hosts<S: AsRef<str>>(args: &[S]) -> Result<Vec<Host>, String> {
    let mut hosts = Vec::new();
    for arg in args {
        for part in arg
            .as_ref()
            .split([',', ' '])
            .filter(|p| !p.trim().is_empty())
        {
            hosts.push(parse_host(part)?);
        }
    }
    if hosts.is_empty() {
        hosts.push(parse_host("")?);
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> String {
        parse_host(s)
            .map(|h| h.url())
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn crash_host_forms() {
        assert_eq!(url("localhost:4200"), "http://localhost:4200");
        assert_eq!(url("example.com"), "http://example.com:4200");
        assert_eq!(url(":4201"), "http://localhost:4201");
        assert_eq!(url(":"), "http://localhost:4200");
        assert_eq!(url(""), "http://localhost:4200");
        assert_eq!(url("127.0.0.1:44209"), "http://127.0.0.1:44209");
    }

    #[test]
    fn urls_and_ipv6() {
        assert_eq!(url("http://db1:4300"), "http://db1:4300");
        assert_eq!(url("https://db1"), "https://db1:4200");
        assert_eq!(url("HTTP://db1:1/"), "http://db1:1");
        assert_eq!(url("[::1]:4300"), "http://[::1]:4300");
        assert_eq!(url("[::1]"), "http://[::1]:4200");
        assert_eq!(url("http://[::1]"), "http://[::1]:4200");
    }

    #[test]
    fn bad_hosts() {
        assert!(url("db:port").starts_with("ERR invalid port"));
        assert!(url("db:99999").starts_with("ERR invalid port"));
        assert!(url("ftp://db").starts_with("ERR unsupported scheme"));
        assert!(url("[::1").starts_with("ERR"));
    }

    #[test]
    fn several_hosts() {
        let urls = |a: &[&str]| {
            parse_hosts(a)
                .unwrap()
                .iter()
                .map(Host::url)
                .collect::<Vec<_>>()
        };
        assert_eq!(urls(&[]), vec!["http://localhost:4200"]);
        assert_eq!(urls(&["a", "b:1"]), vec!["http://a:4200", "http://b:1"]);
        assert_eq!(
            urls(&["a,b:1", " c "]),
            vec!["http://a:4200", "http://b:1", "http://c:4200"]
        );
    }
}
