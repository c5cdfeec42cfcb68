//! How `redis_url` names a Redis Cluster: `redis+cluster://[user:password@]host:port,host:port/`
//! (`rediss+cluster://` with TLS), a list of seed nodes of which any one that
//! answers is enough. A URL holds one authority, so the list is rewritten
//! once, here, to `redis+cluster://[user:password@]host:port/?nodes=host:port,host:port`
//! (a form that is also accepted as written): a parsed URL with the password
//! where `RedactedUrl` hides it. A plain `redis://` URL may also lead to a
//! cluster: the store detects `cluster_enabled:1` when it connects.
//! Pure: no I/O.

use url::Url;

/// The schemes that name a cluster, and the scheme each node is reached with.
const CLUSTER_SCHEMES: &[(&str, &str)] =
    &[("redis+cluster", "redis"), ("rediss+cluster", "rediss")];

/// `value` with a node list in its authority rewritten to the `nodes=` form;
/// any other URL unchanged. `Err` says what is wrong with the list.
pub fn normalise(value: &str) -> Result<String, String> {
    let Some((scheme, rest)) = value.split_once("://") else {
        return Ok(value.to_string());
    };
    if !CLUSTER_SCHEMES
        .iter()
        .any(|(s, _)| scheme.eq_ignore_ascii_case(s))
    {
        return Ok(value.to_string());
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // The password may hold ',' or '@': the host list starts after the last '@'.
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    if !hosts.contains(',') {
        return Ok(value.to_string());
    }
    let nodes: Vec<&str> = hosts.split(',').map(str::trim).collect();
    if let Some(bad) = nodes.iter().find(|n| !is_host_port(n)) {
        return Err(format!(
            "`{bad}` in the cluster's node list is not host:port"
        ));
    }
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, format!("{query}&")),
        None => (tail, String::new()),
    };
    Ok(format!(
        "{scheme}://{userinfo}{}{}?{query}nodes={}",
        nodes[0],
        if path.is_empty() { "/" } else { path },
        nodes[1..].join(",")
    ))
}

fn is_host_port(node: &str) -> bool {
    match node.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

/// For a cluster URL: the scheme its nodes are reached with and the seed
/// nodes (`host:port`), the URL's own first. `None` for any other URL.
pub fn cluster_seeds(url: &Url) -> Option<(&'static str, Vec<String>)> {
    let (_, node_scheme) = CLUSTER_SCHEMES.iter().find(|(s, _)| *s == url.scheme())?;
    let first = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(6379)
    );
    let mut seeds = vec![first];
    for (key, value) in url.query_pairs() {
        if key == "nodes" {
            seeds.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_string),
            );
        }
    }
    Some((node_scheme, seeds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_list_becomes_one_authority_and_a_nodes_parameter() {
        assert_eq!(
            normalise("redis+cluster://127.0.0.1:7101,127.0.0.1:7102, 127.0.0.1:7103/").unwrap(),
            "redis+cluster://127.0.0.1:7101/?nodes=127.0.0.1:7102,127.0.0.1:7103"
        );
        assert_eq!(
            normalise("rediss+cluster://u:p,w@d@a:1,b:2").unwrap(),
            "rediss+cluster://u:p,w@d@a:1/?nodes=b:2"
        );
        assert_eq!(
            normalise("redis+cluster://a:1,b:2/0?x=1").unwrap(),
            "redis+cluster://a:1/0?x=1&nodes=b:2"
        );
        // Anything else is left as written.
        for same in [
            "redis://h:6379/0",
            "redis+cluster://h:7101/",
            "postgres://a,b/c",
        ] {
            assert_eq!(normalise(same).unwrap(), same);
        }
    }

    #[test]
    fn a_node_without_a_port_is_refused_by_name() {
        let err = normalise("redis+cluster://a:1,b/").unwrap_err();
        assert!(err.contains("`b`"), "{err}");
    }

    #[test]
    fn the_seeds_are_the_first_node_then_the_listed_ones() {
        let url = Url::parse(&normalise("redis+cluster://:pw@a:1,b:2,c:3/").unwrap()).unwrap();
        assert_eq!(
            cluster_seeds(&url),
            Some(("redis", vec!["a:1".into(), "b:2".into(), "c:3".into()]))
        );
        assert_eq!(cluster_seeds(&Url::parse("redis://a:1/0").unwrap()), None);
    }
}
