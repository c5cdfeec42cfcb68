//! A Redis Cluster's shape, as `CLUSTER NODES` tells it: which node is a
//! master of which slots, which is whose replica, which is failed. Pure: the
//! parsing, the key-to-slot hash and the questions whole-keyspace work asks
//! (every master to scan, who owns a slot, which slots nobody serves); the
//! requests are in the parent module.

use serde::Serialize;

/// Slots in every Redis Cluster.
pub const SLOTS: u16 = 16_384;

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub id: String,
    /// `host:port` (the client port; the bus port is dropped).
    pub addr: String,
    pub master: bool,
    /// A replica's master (its id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_id: Option<String>,
    /// Flagged `fail` (or `fail?`: suspected by the node asked).
    pub failed: bool,
    /// Inclusive slot ranges this master serves.
    pub slots: Vec<(u16, u16)>,
}

impl Node {
    pub fn slot_count(&self) -> u32 {
        self.slots
            .iter()
            .map(|(a, b)| u32::from(*b) - u32::from(*a) + 1)
            .sum()
    }

    /// `0-5460,6000` for messages.
    pub fn slot_ranges(&self) -> String {
        ranges(&self.slots)
    }

    /// `127.0.0.1:7101` as host and port, for routing by address.
    pub fn host_port(&self) -> Option<(String, u16)> {
        let (host, port) = self.addr.rsplit_once(':')?;
        Some((host.to_string(), port.parse().ok()?))
    }
}

/// Every node, in the order `CLUSTER NODES` listed them (sorted by address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Topology {
    pub nodes: Vec<Node>,
}

impl Topology {
    /// Parses the text of `CLUSTER NODES`
    /// (<https://redis.io/docs/latest/commands/cluster-nodes/>).
    pub fn parse(text: &str) -> Result<Topology, String> {
        let mut nodes = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 {
                return Err(format!("unexpected CLUSTER NODES line `{line}`"));
            }
            let flags: Vec<&str> = fields[2].split(',').collect();
            // `ip:port@cport[,hostname]`
            let addr = fields[1].split(['@', ',']).next().unwrap_or_default();
            if flags.contains(&"noaddr") || addr.starts_with(':') {
                continue;
            }
            let mut slots = Vec::new();
            for s in &fields[8..] {
                // `[slot->-id]` / `[slot-<-id]`: a slot being migrated or imported.
                if s.starts_with('[') {
                    continue;
                }
                let (a, b) = s.split_once('-').unwrap_or((s, s));
                let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) else {
                    return Err(format!("unexpected slot range `{s}` in CLUSTER NODES"));
                };
                slots.push((a, b));
            }
            slots.sort_unstable();
            nodes.push(Node {
                id: fields[0].to_string(),
                addr: addr.to_string(),
                master: flags.contains(&"master"),
                master_id: (fields[3] != "-").then(|| fields[3].to_string()),
                failed: flags.iter().any(|f| *f == "fail" || *f == "fail?"),
                slots,
            });
        }
        nodes.sort_by(|a, b| a.addr.cmp(&b.addr));
        Ok(Topology { nodes })
    }

    /// The masters that serve slots: together, the whole keyspace.
    pub fn serving(&self) -> impl Iterator<Item = &Node> {
        self.nodes
            .iter()
            .filter(|n| n.master && !n.slots.is_empty())
    }

    /// The master serving `slot`.
    pub fn owner(&self, slot: u16) -> Option<&Node> {
        self.serving()
            .find(|n| n.slots.iter().any(|(a, b)| (*a..=*b).contains(&slot)))
    }

    /// Slots some master serves.
    pub fn covered(&self) -> u32 {
        self.serving().map(Node::slot_count).sum()
    }

    /// The slot ranges no master serves.
    pub fn uncovered(&self) -> Vec<(u16, u16)> {
        let mut served: Vec<(u16, u16)> = self.serving().flat_map(|n| n.slots.clone()).collect();
        served.sort_unstable();
        let mut out = Vec::new();
        let mut next: u32 = 0;
        for (a, b) in served {
            if u32::from(a) > next {
                out.push((next as u16, a - 1));
            }
            next = next.max(u32::from(b) + 1);
        }
        if next < u32::from(SLOTS) {
            out.push((next as u16, SLOTS - 1));
        }
        out
    }

    /// The replicas of `master`.
    pub fn replicas_of<'a>(&'a self, master: &'a Node) -> impl Iterator<Item = &'a Node> {
        self.nodes
            .iter()
            .filter(move |n| n.master_id.as_deref() == Some(master.id.as_str()))
    }
}

/// `0-5460,6000` for messages.
pub fn ranges(slots: &[(u16, u16)]) -> String {
    slots
        .iter()
        .map(|(a, b)| match a == b {
            true => a.to_string(),
            false => format!("{a}-{b}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The slot of `key`: CRC16 (XMODEM) of the key, or of its hash tag (the
/// bytes between the first `{` and the next `}`, when not empty), modulo
/// 16384, as the cluster specification defines it.
pub fn slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|b| *b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|b| *b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16(hashed) % SLOTS
}

fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for b in bytes {
        crc ^= u16::from(*b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_specification() {
        // The specification's check value, and slots redis-cli's CLUSTER KEYSLOT gives.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"lock:wallet:{u1}"), slot(b"u1"));
        assert_eq!(slot(b"a{}b"), slot(b"a{}b"));
        assert_ne!(slot(b"a{}b"), slot(b""));
        assert_eq!(slot(b"x{user1000}.following"), slot(b"user1000"));
    }

    const NODES: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:7104@17104 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:7102@17102 master,fail - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:7103@17103 master - 0 1426238318243 3 connected 10923-16383 [10924->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:7101@17101,host1 myself,master - 0 0 1 connected 0-5459 5460
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:7105@17105 master - 0 1426238316232 5 connected
";

    #[test]
    fn cluster_nodes_reads_into_masters_replicas_and_slots() {
        let t = Topology::parse(NODES).unwrap();
        let addrs: Vec<&str> = t.serving().map(|n| n.addr.as_str()).collect();
        assert_eq!(
            addrs,
            ["127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103"]
        );
        let first = &t.nodes[0];
        assert_eq!(first.slots, [(0, 5459), (5460, 5460)]);
        assert_eq!(first.slot_ranges(), "0-5459,5460");
        assert_eq!(first.host_port(), Some(("127.0.0.1".into(), 7101)));
        let replicas: Vec<&str> = t.replicas_of(first).map(|n| n.addr.as_str()).collect();
        assert_eq!(replicas, ["127.0.0.1:7104"]);
        assert!(t.nodes[1].failed);
        assert_eq!(t.owner(10924).unwrap().addr, "127.0.0.1:7103");
        assert_eq!(t.covered(), u32::from(SLOTS));
        assert!(t.uncovered().is_empty());
    }

    #[test]
    fn slots_no_master_serves_are_named_as_ranges() {
        let t = Topology::parse(
            "a 127.0.0.1:1@2 master - 0 0 1 connected 100-199 300\nb 127.0.0.1:3@4 master - 0 0 1 connected 16000-16383\n",
        )
        .unwrap();
        assert_eq!(t.uncovered(), [(0, 99), (200, 299), (301, 15999)]);
        assert_eq!(t.covered(), 100 + 1 + 384);
        assert_eq!(ranges(&t.uncovered()), "0-99,200-299,301-15999");
    }
}
