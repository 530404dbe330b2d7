//! The event trace: what happened in a simulation, one line per event, for
//! reading when a run fails.
//!
//! The engine reports its events through `tracing` (a node starting, the
//! master changing, shards opened, copies recovering and promoted, nodes
//! leaving, faults it saw); the harness adds the faults it injects. A
//! subscriber installed once per process keeps the last [`KEPT`] events
//! of the simulation running on the current thread (madsim runs each
//! simulation on one thread), each stamped with the simulated time and the
//! node it happened on:
//!
//! ```text
//!    12.480s n2    INFO  node::recovery: recovering a copy from its primary table=doc.t shard=3
//!    14.002s sim   FAULT kill n1
//! ```
//!
//! [`SimCluster`](crate::SimCluster) prints them when a test panics.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Once;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// Events kept per simulation.
pub const KEPT: usize = 2000;

thread_local! {
    static EVENTS: RefCell<VecDeque<String>> = const { RefCell::new(VecDeque::new()) };
}

/// Starts a new trace for the simulation on this thread (installing the
/// subscriber the first time).
pub fn begin() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // The engine's events from info on; other crates' only when they
        // fail. Not openraft's: the engine reports what matters of
        // consensus, and openraft logs every retry to an unreachable node.
        // (`Targets`, not `EnvFilter`: its hash maps would draw on the
        // simulation's random numbers the first time only, and the
        // determinism check compares two runs.)
        let filter = tracing_subscriber::filter::Targets::new()
            .with_default(tracing::Level::ERROR)
            .with_target("openraft", tracing_subscriber::filter::LevelFilter::OFF)
            .with_target("shoal_engine", tracing::Level::INFO);
        let subscriber = tracing_subscriber::registry().with(Recorder.with_filter(filter));
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
    EVENTS.with(|e| e.borrow_mut().clear());
}

/// Records an event of the harness itself (a fault it injects).
pub fn record(kind: &str, what: &str) {
    push(format!("{} sim   {kind:<5} {what}", stamp()));
}

/// The last `n` events, oldest first.
pub fn last(n: usize) -> Vec<String> {
    EVENTS.with(|e| {
        let e = e.borrow();
        e.iter().skip(e.len().saturating_sub(n)).cloned().collect()
    })
}

fn push(line: String) {
    EVENTS.with(|e| {
        let mut e = e.borrow_mut();
        if e.len() >= KEPT {
            e.pop_front();
        }
        e.push_back(line);
    });
}

/// The simulated time, right-aligned in seconds.
fn stamp() -> String {
    let t = madsim::time::TimeHandle::try_current().map_or(0.0, |t| t.elapsed().as_secs_f64());
    format!("{t:>9.3}s")
}

/// The subscriber's layer: formats each event into the trace.
struct Recorder;

/// The name of the madsim node a span belongs to.
struct NodeName(String);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        // madsim runs every task of a node inside a span named "node".
        if attrs.metadata().name() != "node" {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let (Some(span), Some(name)) = (ctx.span(id), fields.name) {
            span.extensions_mut().insert(NodeName(name));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let node = ctx
            .event_scope(event)
            .and_then(|scope| {
                scope
                    .from_root()
                    .find_map(|s| s.extensions().get::<NodeName>().map(|n| n.0.clone()))
            })
            .unwrap_or_else(|| "-".into());
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let target = meta
            .target()
            .strip_prefix("shoal_engine::")
            .unwrap_or(meta.target());
        push(format!(
            "{} {node:<5} {:<5} {target}: {}{}",
            stamp(),
            meta.level(),
            fields.message,
            fields.rest
        ));
    }
}

/// An event's message and its other fields (`key=value`), or a node span's
/// name.
#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
    name: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "name" => {
                self.name = Some(value.to_string());
                let _ = write!(self.rest, " name={value}");
            }
            key => {
                let _ = write!(self.rest, " {key}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "name" => {
                let name = format!("{value:?}").trim_matches('"').to_string();
                let _ = write!(self.rest, " name={name}");
                self.name = Some(name);
            }
            key => {
                let _ = write!(self.rest, " {key}={value:?}");
            }
        }
    }
}
