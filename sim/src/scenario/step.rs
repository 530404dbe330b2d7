//! A scenario's harness commands, parsed from their text.
//!
//! Statements are `nN: > SQL` (a goldenscript prefix and literal); every
//! other line is a harness command, written plainly (`kill n2`) or, when it
//! needs characters goldenscript does not allow unquoted, as a literal
//! (`> partition n1 n2 | n3`, `> cut n1 -> n2`, `> loss 5%`).

use std::time::Duration;

use crate::workload::Mix;

/// One harness command.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `cluster nodes=N`: forms a cluster of N nodes (the first command).
    Cluster {
        nodes: usize,
    },
    Kill(String),
    /// Kill, losing what the node had not fsynced.
    Crash(String),
    Restart(String),
    Pause(String),
    Resume(String),
    /// A new node joins.
    Start,
    /// `partition n1 n2 | n3`: no link between the two sides.
    Partition(Vec<String>, Vec<String>),
    /// `cut n1 -> n2`: what n1 sends n2 is lost.
    Cut(String, String),
    Heal,
    /// `loss 5%`: a share of packets lost.
    Loss(f64),
    /// `latency 1ms..50ms`.
    Latency(Duration, Duration),
    /// `sleep 2s` of simulated time.
    Sleep(Duration),
    /// `wait <condition> within 60s`.
    Wait(Condition, Duration),
    Health,
    /// `shards`: copies per node and state; `shards full`: every copy.
    Shards {
        full: bool,
    },
    /// `trace [N]`: the last events.
    Trace(usize),
    /// `check`: every checker, now.
    Check,
    /// `workload start clients=3 replicas=1 shards=3 mix=inserts`: creates
    /// the workload's tables and starts background clients (see
    /// [`crate::workload`]).
    WorkloadStart {
        clients: usize,
        replicas: usize,
        shards: usize,
        mix: Mix,
    },
    /// `workload stop`: stops the clients; `check` then judges their history.
    WorkloadStop,
}

/// What `wait` waits for.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Health(String),
    Nodes(usize),
    RelocationsDone,
    MasterElected,
}

/// How long `wait` waits when the line does not say.
const DEFAULT_WAIT: Duration = Duration::from_secs(60);

impl Step {
    /// Parses a command's text (its words, space-separated).
    pub fn parse(text: &str) -> Result<Step, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let node = |i: usize| -> Result<String, String> {
            let w = words
                .get(i)
                .ok_or_else(|| format!("{} needs a node (n1, n2, ...)", words[0]))?;
            node_name(w)
        };
        let Some(&first) = words.first() else {
            return Err("empty command".into());
        };
        let step = match first {
            "cluster" => {
                let nodes = words
                    .iter()
                    .skip(1)
                    .find_map(|w| w.strip_prefix("nodes="))
                    .unwrap_or("3");
                let nodes: usize = nodes
                    .parse()
                    .map_err(|_| format!("bad node count {nodes}"))?;
                if !(1..=20).contains(&nodes) {
                    return Err(format!("a cluster has 1 to 20 nodes, not {nodes}"));
                }
                Step::Cluster { nodes }
            }
            "kill" => Step::Kill(node(1)?),
            "crash" => Step::Crash(node(1)?),
            "restart" => Step::Restart(node(1)?),
            "pause" => Step::Pause(node(1)?),
            "resume" => Step::Resume(node(1)?),
            "start" => Step::Start,
            "partition" => {
                let rest = &words[1..];
                let split = rest
                    .iter()
                    .position(|w| *w == "|")
                    .ok_or("partition needs two sides: partition n1 n2 | n3")?;
                let side = |ws: &[&str]| ws.iter().map(|w| node_name(w)).collect::<Result<_, _>>();
                let (a, b): (Vec<String>, Vec<String>) =
                    (side(&rest[..split])?, side(&rest[split + 1..])?);
                if a.is_empty() || b.is_empty() {
                    return Err("each side of a partition needs a node".into());
                }
                Step::Partition(a, b)
            }
            "cut" => {
                if words.get(2) != Some(&"->") {
                    return Err("cut needs a direction: cut n1 -> n2".into());
                }
                Step::Cut(node(1)?, node(3)?)
            }
            "heal" => Step::Heal,
            "loss" => {
                let w = words.get(1).ok_or("loss needs a share: loss 5%")?;
                let pct: f64 = w
                    .trim_end_matches('%')
                    .parse()
                    .map_err(|_| format!("bad loss {w}"))?;
                if !(0.0..=100.0).contains(&pct) {
                    return Err(format!("loss is 0% to 100%, not {w}"));
                }
                Step::Loss(pct / 100.0)
            }
            "latency" => {
                let w = words
                    .get(1)
                    .ok_or("latency needs a range: latency 1ms..50ms")?;
                let (lo, hi) = w
                    .split_once("..")
                    .ok_or_else(|| format!("latency needs a range like 1ms..50ms, not {w}"))?;
                let (lo, hi) = (duration(lo)?, duration(hi)?);
                if lo > hi {
                    return Err(format!("latency range {w} is backwards"));
                }
                Step::Latency(lo, hi)
            }
            "sleep" => Step::Sleep(duration(
                words.get(1).ok_or("sleep needs a time: sleep 2s")?,
            )?),
            "wait" => {
                let (condition, rest) = match words.get(1..3) {
                    Some(["health", h]) => {
                        let h = h.to_uppercase();
                        if !["GREEN", "YELLOW", "RED"].contains(&h.as_str()) {
                            return Err(format!("health is green, yellow or red, not {h}"));
                        }
                        (Condition::Health(h), 3)
                    }
                    Some(["nodes", n]) => {
                        let n = n.parse().map_err(|_| format!("bad node count {n}"))?;
                        (Condition::Nodes(n), 3)
                    }
                    Some(["relocations", "done"]) => (Condition::RelocationsDone, 3),
                    Some(["master", "elected"]) => (Condition::MasterElected, 3),
                    _ => {
                        return Err("wait for: health green|yellow|red, nodes N, \
                                    relocations done, master elected"
                            .into());
                    }
                };
                let limit = match words.get(rest..) {
                    Some([]) | None => DEFAULT_WAIT,
                    Some(["within", t]) => duration(t)?,
                    Some(other) => return Err(format!("unexpected {}", other.join(" "))),
                };
                Step::Wait(condition, limit)
            }
            "health" => Step::Health,
            "shards" => Step::Shards {
                full: words.get(1) == Some(&"full"),
            },
            "trace" => Step::Trace(match words.get(1) {
                Some(n) => n.parse().map_err(|_| format!("bad event count {n}"))?,
                None => 30,
            }),
            "check" => Step::Check,
            "workload" => match words.get(1) {
                Some(&"start") => {
                    let setting = |key: &str, default: usize| -> Result<usize, String> {
                        let prefix = format!("{key}=");
                        match words.iter().find_map(|w| w.strip_prefix(prefix.as_str())) {
                            None => Ok(default),
                            Some(v) => v.parse().map_err(|_| format!("bad {key} {v}")),
                        }
                    };
                    let clients = setting("clients", 3)?;
                    if !(1..=50).contains(&clients) {
                        return Err(format!("a workload has 1 to 50 clients, not {clients}"));
                    }
                    let shards = setting("shards", 3)?;
                    if !(1..=20).contains(&shards) {
                        return Err(format!(
                            "a workload's tables have 1 to 20 shards, not {shards}"
                        ));
                    }
                    let mix = match words.iter().find_map(|w| w.strip_prefix("mix=")) {
                        None | Some("inserts") => Mix::Inserts,
                        Some("all") => Mix::All,
                        Some(other) => return Err(format!("mix is inserts or all, not {other}")),
                    };
                    Step::WorkloadStart {
                        clients,
                        replicas: setting("replicas", 1)?,
                        shards,
                        mix,
                    }
                }
                Some(&"stop") => Step::WorkloadStop,
                _ => {
                    return Err(
                        "workload start [clients=N] [replicas=N] [shards=N] [mix=inserts|all], or \
                     workload stop"
                            .into(),
                    );
                }
            },
            other => return Err(format!("unknown command {other}")),
        };
        Ok(step)
    }
}

/// A node's name: `n` and a number.
fn node_name(word: &str) -> Result<String, String> {
    match word.strip_prefix('n').map(str::parse::<u32>) {
        Some(Ok(n)) if n > 0 => Ok(word.to_string()),
        _ => Err(format!("{word} is not a node name (n1, n2, ...)")),
    }
}

/// `250ms`, `2s`, `1m`.
pub fn duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text} is not a time (250ms, 2s, 1m)");
    let (number, unit) = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|i| text.split_at(i))
        .ok_or_else(bad)?;
    let n: f64 = number.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_and_bad_ones_say_why() {
        let ok = |t: &str| Step::parse(t).unwrap();
        assert_eq!(ok("cluster nodes=5"), Step::Cluster { nodes: 5 });
        assert_eq!(
            ok("partition n1 n2 | n3"),
            Step::Partition(vec!["n1".into(), "n2".into()], vec!["n3".into()])
        );
        assert_eq!(ok("cut n1 -> n2"), Step::Cut("n1".into(), "n2".into()));
        assert_eq!(ok("loss 5%"), Step::Loss(0.05));
        assert_eq!(
            ok("latency 1ms..50ms"),
            Step::Latency(Duration::from_millis(1), Duration::from_millis(50))
        );
        assert_eq!(
            ok("wait health green within 90s"),
            Step::Wait(Condition::Health("GREEN".into()), Duration::from_secs(90))
        );
        assert_eq!(
            ok("wait nodes 3"),
            Step::Wait(Condition::Nodes(3), DEFAULT_WAIT)
        );
        for bad in [
            "kill",
            "kill x2",
            "partition n1 n2",
            "cut n1 n2",
            "loss 120%",
            "latency 50ms..1ms",
            "sleep soon",
            "wait health purple",
            "wait nodes 3 within",
            "cluster nodes=0",
            "fly n1",
        ] {
            assert!(Step::parse(bad).is_err(), "{bad} parsed");
        }
    }
}
