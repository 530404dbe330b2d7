//! Circuit breakers: memory accounting for what statements and requests hold.
//!
//! As in CrateDB, a node has a memory budget (CrateDB's heap) and breakers
//! that account memory against shares of it: the **query** breaker for what
//! statements hold (parsed statements, rows being sorted, groups being
//! aggregated, strings built by functions, COPY batches), the **request**
//! breaker for HTTP request bodies being read, and the **parent** breaker
//! over both. Work that would push a breaker past its limit fails with
//! CrateDB's `CircuitBreakingException` instead of taking the node's memory;
//! the node stays healthy and the statement changes nothing.
//!
//! A statement accounts through a [`MemoryAccount`]: reservations grow as it
//! holds more, and everything is released when the account is dropped at the
//! statement's end, whatever path it ends on. Hot loops reserve in chunks
//! through a [`LocalReservation`], so the shared counters are touched once
//! per megabyte, not once per row.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Default share of the memory budget for the query breaker (CrateDB's
/// `indices.breaker.query.limit`).
pub const DEFAULT_QUERY_LIMIT: Limit = Limit::Percent(60.0);
/// Default share for the request breaker (`indices.breaker.request.limit`).
pub const DEFAULT_REQUEST_LIMIT: Limit = Limit::Percent(60.0);
/// Default share for the parent breaker (`indices.breaker.total.limit`).
pub const DEFAULT_TOTAL_LIMIT: Limit = Limit::Percent(95.0);

/// A breaker limit as set: a share of the memory budget or a byte size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    Percent(f64),
    Bytes(u64),
}

impl Limit {
    /// Parses `'60%'` or a byte size (`'512mb'`, `'1gb'`, `'1048576'`, `'1.5gb'`).
    pub fn parse(setting: &str, text: &str) -> Result<Limit> {
        let t = text.trim();
        let invalid = || {
            Error::InvalidArgument(format!(
                "Invalid value [{text}] for setting [{setting}]: expected a percentage of the \
                 memory limit ('60%') or a byte size ('512mb')"
            ))
        };
        if let Some(p) = t.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| invalid())?;
            if !(0.0..=100.0).contains(&p) {
                return Err(Error::InvalidArgument(format!(
                    "Invalid value [{text}] for setting [{setting}]: a percentage must be \
                     between 0% and 100%"
                )));
            }
            return Ok(Limit::Percent(p));
        }
        parse_byte_size(t).map(Limit::Bytes).ok_or_else(invalid)
    }

    /// The limit in bytes for a memory budget of `budget` bytes.
    pub fn bytes(self, budget: u64) -> u64 {
        match self {
            Limit::Percent(p) => (budget as f64 * p / 100.0) as u64,
            Limit::Bytes(b) => b,
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Percent(p) => write!(f, "{p}%"),
            Limit::Bytes(b) => f.write_str(&format_bytes(*b)),
        }
    }
}

/// Parses a byte size: a number with an optional unit `b`, `kb`, `mb`, `gb`,
/// `tb` (powers of 1024, as Elasticsearch's byte sizes), case-insensitive.
pub fn parse_byte_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().ok()?;
    let factor: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        "t" | "tb" => 1 << 40,
        _ => return None,
    };
    let bytes = num * factor as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Formats bytes as Elasticsearch's `ByteSizeValue` does: `280b`, `2mb`, `307.1mb`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 5] = [
        ("pb", 1 << 50),
        ("tb", 1 << 40),
        ("gb", 1 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if bytes >= size {
            let v = bytes as f64 / size as f64;
            let rounded = (v * 10.0).round() / 10.0;
            return if rounded.fract() == 0.0 {
                format!("{}{unit}", rounded as u64)
            } else {
                format!("{rounded:.1}{unit}")
            };
        }
    }
    format!("{bytes}b")
}

/// A statement that held at least this much counts as a large release: the
/// node may give the freed memory back to the operating system soon after.
pub const LARGE_RELEASE: u64 = 16 << 20;

static RELEASE_HOOK: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets how the process gives freed memory back to the operating system
/// (the binary that picks the allocator knows how: mimalloc's `mi_collect`).
pub fn set_release_hook(hook: fn()) {
    let _ = RELEASE_HOOK.set(hook);
}

/// Gives freed memory back to the operating system, if a hook is set and
/// statements that held much memory ended since the last call while little
/// is held now. An allocator keeps freed memory for reuse (Shoal's for a
/// minute, so that segment builds reuse it); after a large statement that
/// would otherwise keep the node's footprint at its peak.
pub fn release_memory_if_due(breakers: &Breakers) {
    let large = breakers.query.large_releases.swap(0, Ordering::Relaxed)
        + breakers.request.large_releases.swap(0, Ordering::Relaxed);
    if large > 0
        && breakers.parent.used() < LARGE_RELEASE
        && let Some(hook) = RELEASE_HOOK.get()
    {
        hook();
    }
}

/// One breaker: a limit and what is accounted against it.
#[derive(Debug)]
pub struct Breaker {
    name: &'static str,
    limit: AtomicU64,
    used: AtomicU64,
    /// Accounts that held [`LARGE_RELEASE`] or more and ended.
    large_releases: AtomicU64,
    /// The breaker over this one and its siblings (`None` for the parent).
    parent: Option<Arc<Breaker>>,
}

impl Breaker {
    fn new(name: &'static str, limit: u64, parent: Option<Arc<Breaker>>) -> Breaker {
        Breaker {
            name,
            limit: AtomicU64::new(limit),
            used: AtomicU64::new(0),
            large_releases: AtomicU64::new(0),
            parent,
        }
    }

    /// A breaker that never trips (tests, tools, internal statements).
    pub fn unlimited() -> Arc<Breaker> {
        Arc::new(Breaker::new("unlimited", u64::MAX, None))
    }

    /// The breaker's name (`query`, `request`, `parent`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Bytes accounted now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Accounts `bytes` for `label`, or fails without accounting anything if
    /// this breaker or its parent would pass its limit.
    pub fn reserve(&self, bytes: u64, label: &str) -> Result<()> {
        if bytes == 0 {
            return Ok(());
        }
        let limit = self.limit();
        let before = self.used.fetch_add(bytes, Ordering::Relaxed);
        let after = before.saturating_add(bytes);
        if after > limit {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return Err(self.tripped(bytes, after, limit, label));
        }
        if let Some(parent) = &self.parent
            && let Err(e) = parent.reserve(bytes, label)
        {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return Err(e);
        }
        Ok(())
    }

    /// Gives back `bytes` accounted earlier.
    pub fn release(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        // Saturating: a release never drives the count below zero, even if a
        // caller gives back more than it took.
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                Some(u.saturating_sub(bytes))
            });
        if let Some(parent) = &self.parent {
            parent.release(bytes);
        }
    }

    /// Whether `bytes` more would fit now, without accounting them.
    pub fn check(&self, bytes: u64, label: &str) -> Result<()> {
        let limit = self.limit();
        let after = self.used().saturating_add(bytes);
        if after > limit {
            return Err(self.tripped(bytes, after, limit, label));
        }
        match &self.parent {
            Some(p) => p.check(bytes, label),
            None => Ok(()),
        }
    }

    fn tripped(&self, bytes: u64, after: u64, limit: u64, label: &str) -> Error {
        Error::CircuitBreaking(format!(
            "Allocating {} for '{label}' failed, breaker would use {} in total. Limit is {}. \
             Either increase memory and limit, change the query or reduce concurrent query load",
            format_bytes(bytes),
            format_bytes(after),
            format_bytes(limit)
        ))
    }
}

/// A node's breakers and the settings they come from.
#[derive(Debug)]
pub struct Breakers {
    budget: u64,
    settings: std::sync::Mutex<BreakerSettings>,
    pub parent: Arc<Breaker>,
    pub query: Arc<Breaker>,
    pub request: Arc<Breaker>,
}

/// The breaker limits as set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    pub total: Limit,
    pub query: Limit,
    pub request: Limit,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            total: DEFAULT_TOTAL_LIMIT,
            query: DEFAULT_QUERY_LIMIT,
            request: DEFAULT_REQUEST_LIMIT,
        }
    }
}

impl Breakers {
    /// Breakers over a memory budget of `budget` bytes.
    pub fn new(budget: u64, settings: BreakerSettings) -> Breakers {
        let parent = Arc::new(Breaker::new("parent", settings.total.bytes(budget), None));
        let query = Arc::new(Breaker::new(
            "query",
            settings.query.bytes(budget),
            Some(parent.clone()),
        ));
        let request = Arc::new(Breaker::new(
            "request",
            settings.request.bytes(budget),
            Some(parent.clone()),
        ));
        Breakers {
            budget,
            settings: std::sync::Mutex::new(settings),
            parent,
            query,
            request,
        }
    }

    /// Breakers that never trip.
    pub fn unlimited() -> Breakers {
        Breakers::new(u64::MAX, BreakerSettings::default())
    }

    /// The node's memory budget in bytes.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// The limits as set.
    pub fn settings(&self) -> BreakerSettings {
        *self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies new limits (`SET GLOBAL "indices.breaker.*.limit"`).
    pub fn apply(&self, settings: BreakerSettings) {
        let mut s = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        *s = settings;
        self.parent
            .limit
            .store(settings.total.bytes(self.budget), Ordering::Relaxed);
        self.query
            .limit
            .store(settings.query.bytes(self.budget), Ordering::Relaxed);
        self.request
            .limit
            .store(settings.request.bytes(self.budget), Ordering::Relaxed);
    }

    /// A fresh account for one statement on the query breaker.
    pub fn statement(&self) -> Arc<MemoryAccount> {
        Arc::new(MemoryAccount::new(self.query.clone()))
    }
}

/// What one statement (or request) holds, accounted on a breaker. Dropping
/// the account gives everything back.
#[derive(Debug)]
pub struct MemoryAccount {
    breaker: Arc<Breaker>,
    /// Set by `KILL`: every later reservation fails with `JobKilledException`,
    /// so a statement stops at the next rows it would hold.
    killed: std::sync::atomic::AtomicBool,
    reserved: AtomicU64,
    /// The most it held at once.
    peak: AtomicU64,
}

impl Default for MemoryAccount {
    fn default() -> Self {
        MemoryAccount::new(Breaker::unlimited())
    }
}

impl MemoryAccount {
    /// An account on `breaker`.
    pub fn new(breaker: Arc<Breaker>) -> MemoryAccount {
        MemoryAccount {
            breaker,
            killed: std::sync::atomic::AtomicBool::new(false),
            reserved: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        }
    }

    /// An account that never trips.
    pub fn unlimited() -> Arc<MemoryAccount> {
        Arc::new(MemoryAccount::default())
    }

    /// Marks the statement killed (`KILL`).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
    }

    /// Fails if the statement was killed.
    pub fn check_killed(&self) -> Result<()> {
        if self.killed.load(Ordering::Relaxed) {
            return Err(crate::error::Error::Killed("Job killed".into()));
        }
        Ok(())
    }

    /// Accounts `bytes` more for `label`.
    pub fn reserve(&self, bytes: u64, label: &str) -> Result<()> {
        self.check_killed()?;
        self.breaker.reserve(bytes, label)?;
        let now = self.reserved.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Ok(())
    }

    /// Gives back up to `bytes` of what this account reserved.
    pub fn release(&self, bytes: u64) {
        let mut taken = 0;
        let _ = self
            .reserved
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                taken = bytes.min(r);
                Some(r - taken)
            });
        self.breaker.release(taken);
    }

    /// Whether a transient allocation of `bytes` (a value a function is
    /// about to build) fits, without keeping it accounted.
    pub fn check(&self, bytes: u64, label: &str) -> Result<()> {
        self.check_killed()?;
        self.breaker.check(bytes, label)
    }

    /// Bytes this account holds.
    pub fn reserved(&self) -> u64 {
        self.reserved.load(Ordering::Relaxed)
    }
}

impl Drop for MemoryAccount {
    fn drop(&mut self) {
        self.breaker.release(*self.reserved.get_mut());
        if *self.peak.get_mut() >= LARGE_RELEASE {
            self.breaker.large_releases.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A reservation that a hot loop grows byte by byte: it reserves from its
/// account in chunks of [`LocalReservation::CHUNK`], so the shared counters
/// are touched rarely, and gives everything back when dropped.
#[derive(Debug)]
pub struct LocalReservation<'a> {
    account: &'a MemoryAccount,
    label: &'static str,
    used: u64,
    reserved: u64,
}

impl<'a> LocalReservation<'a> {
    /// The largest step of reservations on the shared account.
    pub const CHUNK: u64 = 1 << 20;
    /// The first step: small results take little of a tight limit.
    const FIRST: u64 = 4 << 10;

    /// An empty reservation on `account`, reported as `label` if it trips.
    pub fn new(account: &'a MemoryAccount, label: &'static str) -> LocalReservation<'a> {
        LocalReservation {
            account,
            label,
            used: 0,
            reserved: 0,
        }
    }

    /// Accounts `bytes` more.
    #[inline]
    pub fn add(&mut self, bytes: usize) -> Result<()> {
        self.used += bytes as u64;
        if self.used > self.reserved {
            // Steps double from FIRST to CHUNK: few reservations for large
            // results, little held for small ones.
            let step = self.reserved.clamp(Self::FIRST, Self::CHUNK);
            let need = (self.used - self.reserved).max(step);
            self.account.reserve(need, self.label)?;
            self.reserved += need;
        }
        Ok(())
    }

    /// Accounts `bytes` less (rows a top-N cut dropped): the reservation
    /// shrinks back to within a chunk of what is used.
    pub fn sub(&mut self, bytes: usize) {
        self.used = self.used.saturating_sub(bytes as u64);
        let keep = self.used + Self::CHUNK;
        if self.reserved > keep + Self::CHUNK {
            self.account.release(self.reserved - keep);
            self.reserved = keep;
        }
    }

    /// Bytes accounted so far.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Keeps what this reservation uses accounted on the account (until the
    /// account itself is dropped) instead of giving it back now: for results
    /// that outlive the loop that built them. The rest of the last chunk is
    /// given back, so many small results do not each hold a chunk.
    pub fn keep(mut self) {
        self.account
            .release(self.reserved - self.used.min(self.reserved));
        self.reserved = 0;
    }
}

impl Drop for LocalReservation<'_> {
    fn drop(&mut self) {
        self.account.release(self.reserved);
    }
}

/// Approximate heap bytes of values, for accounting.
pub trait HeapSize {
    /// Bytes this value occupies, its inline size included.
    fn heap_size(&self) -> usize;
}

impl HeapSize for crate::types::Value {
    fn heap_size(&self) -> usize {
        use crate::types::Value;
        const INLINE: usize = std::mem::size_of::<Value>();
        // Scalars, nearly every value, are sized without the walk below.
        match self {
            Value::Text(s) => return INLINE + s.capacity(),
            Value::Array(_) | Value::Object(_) => {}
            _ => return INLINE,
        }
        // An explicit stack: values can nest as deep as their input allows.
        let mut total = 0;
        let mut stack = vec![self];
        while let Some(v) = stack.pop() {
            total += INLINE;
            match v {
                Value::Text(s) => total += s.capacity(),
                Value::Array(items) => stack.extend(items.iter()),
                Value::Object(o) => {
                    // Entries, plus the index's hash table (about 16 bytes an entry).
                    total += o.len() * (std::mem::size_of::<crate::types::Key>() + 16);
                    for (k, v) in o.iter() {
                        if k.len() > 23 {
                            total += k.len();
                        }
                        stack.push(v);
                    }
                }
                _ => {}
            }
        }
        total
    }
}

impl HeapSize for [crate::types::Value] {
    fn heap_size(&self) -> usize {
        std::mem::size_of::<Vec<crate::types::Value>>()
            + self.iter().map(HeapSize::heap_size).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_format_as_elasticsearch() {
        assert_eq!(Limit::parse("x", "60%").unwrap(), Limit::Percent(60.0));
        assert_eq!(Limit::parse("x", "512mb").unwrap(), Limit::Bytes(512 << 20));
        assert_eq!(Limit::parse("x", "1.5GB").unwrap(), Limit::Bytes(3 << 29));
        assert_eq!(Limit::parse("x", "1024").unwrap(), Limit::Bytes(1024));
        assert!(Limit::parse("x", "150%").is_err());
        assert!(Limit::parse("x", "lots").is_err());
        assert!(Limit::parse("x", "-1mb").is_err());
        assert_eq!(format_bytes(280), "280b");
        assert_eq!(format_bytes(2 << 20), "2mb");
        assert_eq!(format_bytes((307.1 * (1 << 20) as f64) as u64), "307.1mb");
    }

    #[test]
    fn a_breaker_trips_before_its_limit_and_accounts_nothing_then() {
        let b = Breakers::new(1000, BreakerSettings::default());
        let account = b.statement();
        account.reserve(500, "collect").unwrap();
        let e = account.reserve(200, "collect").unwrap_err();
        assert_eq!(e.code(), 5000);
        assert!(e.to_string().starts_with(
            "CircuitBreakingException[Allocating 200b for 'collect' failed, breaker would use 700b in total. Limit is 600b."
        ));
        assert_eq!(b.query.used(), 500);
        assert_eq!(b.parent.used(), 500);
        drop(account);
        assert_eq!(b.query.used(), 0);
        assert_eq!(b.parent.used(), 0);
    }

    #[test]
    fn the_parent_limits_the_sum_of_its_children() {
        let b = Breakers::new(1000, BreakerSettings::default());
        b.query.reserve(550, "q").unwrap();
        b.request.reserve(350, "r").unwrap();
        // Each child is within 600, but the parent's 950 would be passed.
        assert!(b.request.reserve(100, "r").is_err());
        assert_eq!(b.request.used(), 350);
    }

    #[test]
    fn local_reservations_chunk_and_give_back() {
        let b = Breakers::new(100 << 20, BreakerSettings::default());
        let account = b.statement();
        {
            let mut local = LocalReservation::new(&account, "sort");
            for _ in 0..1000 {
                local.add(100).unwrap();
            }
            // 100 KB in steps of 4, 4, 8, 16, 32 and 64 KB.
            assert_eq!(b.query.used(), 128 << 10);
        }
        assert_eq!(b.query.used(), 0);
        {
            let mut cut = LocalReservation::new(&account, "sort");
            cut.add(5 << 20).unwrap();
            cut.sub(5 << 20);
            assert!(b.query.used() <= 2 * LocalReservation::CHUNK);
        }
        let mut kept = LocalReservation::new(&account, "sort");
        kept.add(10).unwrap();
        kept.keep();
        assert_eq!(account.reserved(), 10);
    }

    #[test]
    fn new_limits_apply_at_once() {
        let b = Breakers::new(1000, BreakerSettings::default());
        let mut s = b.settings();
        s.query = Limit::Bytes(100);
        b.apply(s);
        assert!(b.query.reserve(200, "q").is_err());
        assert!(b.query.reserve(100, "q").is_ok());
    }
}
