//! Fuzzing the engine with SQL generated from a grammar.
//!
//! Each case opens a node on an in-memory disk (with a small memory budget,
//! so the circuit breakers are in play), creates a table, and runs a
//! sequence of generated statements: queries, writes, DDL, settings. The
//! generator mixes ordinary SQL with what a hostile client sends: deep
//! nesting, long operator chains, huge literals and counts, extreme numbers,
//! deeply nested values, odd types. Every statement must come back as rows
//! or as a CrateDB error; a panic or a stack overflow fails the test, and
//! so does an internal error (a bug, not bad input). After every statement
//! the node must still answer `SELECT 1`.
//!
//! The statements run on a test thread's stack (2 MB by default): the engine
//! must notice a too-deep statement before that stack runs out.
//!
//! `SHOAL_FUZZ_CASES` sets the number of cases (CI runs a few hundred;
//! `SHOAL_FUZZ_CASES=20000 cargo test --release -p shoal-engine --test
//! fuzz_sql` is the soak). A failure prints the statement sequence, shrunk.
#![cfg(not(madsim))]

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use shoal_engine::disk::{Disk, MemDisk};
use shoal_engine::error::Error;
use shoal_engine::node::{Node, NodeConfig, Session};
use shoal_engine::types::Value;

/// The table every case starts with.
const SETUP: &str = "CREATE TABLE t (id INT PRIMARY KEY, a BIGINT, b DOUBLE, s TEXT, \
    ts TIMESTAMP WITH TIME ZONE, o OBJECT(DYNAMIC) AS (k INT), arr ARRAY(INT), \
    g OBJECT(IGNORED), big TEXT INDEX OFF) CLUSTERED INTO 2 SHARDS WITH (refresh_interval = 0)";

fn cases() -> u32 {
    std::env::var("SHOAL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

// ---- the grammar --------------------------------------------------------

fn int_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (-5i64..100).prop_map(|i| i.to_string()),
        1 => Just("9223372036854775807".to_string()),
        1 => Just("(-9223372036854775807 - 1)".to_string()),
        1 => Just("2147483647".to_string()),
        1 => Just("99999999999999999999999".to_string()),
        1 => any::<i64>().prop_map(|i| format!("({i})")),
    ]
}

fn float_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1.5".to_string()),
        Just("-0.0".to_string()),
        Just("1e308".to_string()),
        Just("1e-320".to_string()),
        Just("'NaN'::double".to_string()),
        Just("'Infinity'::double".to_string()),
        (-1e6f64..1e6).prop_map(|f| format!("{f}")),
    ]
}

fn text_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z%_ ]{0,8}".prop_map(|s| format!("'{s}'")),
        1 => Just("'it''s'".to_string()),
        1 => Just("'héllo ✓ 𝄞'".to_string()),
        1 => Just("'2024-05-17T10:11:12Z'".to_string()),
        1 => Just("'2020-01-01T00:00:00+99:99'".to_string()),
        1 => Just("'Europe/Vienna'".to_string()),
        1 => Just("'Mars/Phobos'".to_string()),
        1 => Just("'%.65536f'".to_string()),
        1 => (0usize..200_000).prop_map(|n| format!("repeat('x', {n})")),
    ]
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => int_literal(),
        2 => float_literal(),
        3 => text_literal(),
        1 => Just("NULL".to_string()),
        1 => Just("true".to_string()),
        1 => Just("[1, 2, NULL]".to_string()),
        1 => Just("{x = 1, y = 'z'}".to_string()),
        1 => Just("CURRENT_TIMESTAMP".to_string()),
    ]
}

fn column() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("id"),
        Just("a"),
        Just("b"),
        Just("s"),
        Just("ts"),
        Just("o"),
        Just("o['k']"),
        Just("o['new']"),
        Just("arr"),
        Just("arr[1]"),
        Just("g"),
        Just("big"),
        Just("_id"),
        Just("_seq_no"),
        Just("_raw"),
    ]
    .prop_map(str::to_string)
}

const FUNCTIONS: &[&str] = &[
    "abs",
    "round",
    "floor",
    "ceil",
    "sqrt",
    "power",
    "ln",
    "log",
    "mod",
    "sign",
    "lower",
    "upper",
    "length",
    "substr",
    "concat",
    "replace",
    "repeat",
    "lpad",
    "rpad",
    "left",
    "right",
    "reverse",
    "trim",
    "split_part",
    "strpos",
    "regexp_replace",
    "initcap",
    "format",
    "coalesce",
    "nullif",
    "greatest",
    "least",
    "date_trunc",
    "date_format",
    "extract_year",
    "timezone",
    "array_cat",
    "array_length",
    "array_unique",
    "array_position",
    "array_contains",
    "md5",
    "no_such_fn",
];

const OPERATORS: &[&str] = &[
    "+", "-", "*", "/", "%", "||", "=", "<>", "<", ">=", "AND", "OR", "LIKE", "ILIKE", "~",
];

const TYPES: &[&str] = &[
    "INT",
    "BIGINT",
    "SMALLINT",
    "REAL",
    "DOUBLE",
    "TEXT",
    "BOOLEAN",
    "TIMESTAMP",
    "TIMESTAMP WITH TIME ZONE",
    "int[]",
    "ARRAY(text)",
    "OBJECT",
    "GEO_POINT",
];

/// The types the generator builds expressions of, so that most generated
/// expressions bind and run instead of failing on a type error.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Int,
    Float,
    Text,
    Bool,
    Time,
    Array,
}

const ALL_TYPES: [Ty; 6] = [Ty::Int, Ty::Float, Ty::Text, Ty::Bool, Ty::Time, Ty::Array];

fn pick<T: Clone + std::fmt::Debug + 'static>(items: &[T]) -> BoxedStrategy<T> {
    proptest::sample::select(items.to_vec()).boxed()
}

/// Leaves of a type: literals and columns of table `t`.
fn leaf(ty: Ty) -> BoxedStrategy<String> {
    match ty {
        Ty::Int => prop_oneof![
            3 => int_literal(),
            1 => pick(&["id", "a", "o['k']", "arr[1]", "_seq_no", "?"]).prop_map(str::to_string),
        ]
        .boxed(),
        Ty::Float => prop_oneof![2 => float_literal(), 1 => Just("b".to_string())].boxed(),
        Ty::Text => prop_oneof![
            3 => text_literal(),
            1 => pick(&["s", "_id", "big", "o['new']"]).prop_map(str::to_string),
        ]
        .boxed(),
        Ty::Bool => pick(&["true", "false", "NULL"])
            .prop_map(str::to_string)
            .boxed(),
        Ty::Time => prop_oneof![
            1 => Just("ts".to_string()),
            1 => Just("CURRENT_TIMESTAMP".to_string()),
            1 => any::<i64>().prop_map(|i| format!("({i})::timestamp with time zone")),
            1 => Just("'2024-05-17T10:11:12Z'::timestamp".to_string()),
        ]
        .boxed(),
        Ty::Array => prop_oneof![
            1 => Just("arr".to_string()),
            1 => Just("[1, 2, NULL, 2]".to_string()),
            1 => Just("[]".to_string()),
        ]
        .boxed(),
    }
}

/// An expression of type `ty`, at most `depth` levels deep.
fn typed(ty: Ty, depth: u32) -> BoxedStrategy<String> {
    if depth == 0 {
        return leaf(ty);
    }
    let d = depth - 1;
    let int = || typed(Ty::Int, d);
    let text = || typed(Ty::Text, d);
    let float = || typed(Ty::Float, d);
    let boolean = || typed(Ty::Bool, d);
    let time = || typed(Ty::Time, d);
    let array = || typed(Ty::Array, d);
    let any_ty =
        || proptest::sample::select(ALL_TYPES.to_vec()).prop_flat_map(move |t| typed(t, d));
    let case = move |t: Ty| {
        (typed(Ty::Bool, d), typed(t, d), typed(t, d))
            .prop_map(|(c, a, b)| format!("CASE WHEN {c} THEN {a} ELSE {b} END"))
    };
    let special = match ty {
        Ty::Int => prop_oneof![
            3 => (int(), pick(&["+", "-", "*", "/", "%"]), int()).prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            1 => (pick(&["abs", "sign", "floor", "ceil", "round"]), int()).prop_map(|(f, a)| format!("{f}({a})")),
            1 => (int(), int()).prop_map(|(a, b)| format!("mod({a}, {b})")),
            1 => text().prop_map(|t| format!("length({t})")),
            1 => (text(), text()).prop_map(|(a, b)| format!("strpos({a}, {b})")),
            1 => time().prop_map(|t| format!("extract(year FROM {t})")),
            1 => array().prop_map(|a| format!("array_length({a}, 1)")),
            1 => (array(), int()).prop_map(|(a, i)| format!("array_position({a}, {i})")),
            1 => (array(), int()).prop_map(|(a, i)| format!("{a}[{i}]")),
            1 => text().prop_map(|t| format!("TRY_CAST({t} AS BIGINT)")),
            1 => float().prop_map(|f| format!("{f}::INT")),
            1 => (int(), int(), int()).prop_map(|(a, b, c)| format!("greatest({a}, {b}, {c})")),
            1 => case(Ty::Int),
        ]
        .boxed(),
        Ty::Float => prop_oneof![
            2 => (float(), pick(&["+", "-", "*", "/"]), int()).prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            1 => (pick(&["sqrt", "ln", "exp", "sin", "abs"]), float()).prop_map(|(f, a)| format!("{f}({a})")),
            1 => (float(), float()).prop_map(|(a, b)| format!("power({a}, {b})")),
            1 => (float(), int()).prop_map(|(a, b)| format!("round({a}, {b})")),
            1 => (float(), int()).prop_map(|(a, b)| format!("trunc({a}, {b})")),
            1 => case(Ty::Float),
        ]
        .boxed(),
        Ty::Text => prop_oneof![
            2 => (text(), text()).prop_map(|(a, b)| format!("({a} || {b})")),
            1 => (pick(&["lower", "upper", "reverse", "initcap", "trim"]), text()).prop_map(|(f, a)| format!("{f}({a})")),
            1 => (text(), int(), int()).prop_map(|(a, b, c)| format!("substr({a}, {b}, {c})")),
            1 => (text(), text(), text()).prop_map(|(a, b, c)| format!("replace({a}, {b}, {c})")),
            1 => (text(), int()).prop_map(|(a, n)| format!("repeat({a}, {n})")),
            1 => (pick(&["lpad", "rpad"]), text(), int(), text()).prop_map(|(f, a, n, p)| format!("{f}({a}, {n}, {p})")),
            1 => (pick(&["left", "right"]), text(), int()).prop_map(|(f, a, n)| format!("{f}({a}, {n})")),
            1 => (text(), text(), int()).prop_map(|(a, b, n)| format!("split_part({a}, {b}, {n})")),
            1 => (text(), pick(&["'a+'", "'(x)\\1'", "'.'", "'[z-a]'", "'x*'"]), text(), pick(&["", ", 'g'", ", 'gi'"]))
                .prop_map(|(a, re, r, f)| format!("regexp_replace({a}, {re}, {r}{f})")),
            1 => (pick(&["'%s-%s'", "'%d'", "'%.3f'", "'%2$s'", "'%%'", "'%.99999f'", "'%q'"]), any_ty(), any_ty())
                .prop_map(|(f, a, b)| format!("format({f}, {a}, {b})")),
            1 => (pick(&["'%Y-%m-%d %H:%i'", "'%D %W'", "'%'"]), pick(&["", "'Europe/Vienna', ", "'+05:30', ", "'Mars/Phobos', "]), time())
                .prop_map(|(f, z, t)| format!("date_format({f}, {z}{t})")),
            1 => any_ty().prop_map(|x| format!("{x}::TEXT")),
            1 => (text(), text()).prop_map(|(a, b)| format!("coalesce({a}, {b})")),
            1 => case(Ty::Text),
        ]
        .boxed(),
        Ty::Bool => prop_oneof![
            3 => (int(), pick(&["=", "<>", "<", "<=", ">", ">="]), int()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            2 => (text(), pick(&["=", "<", "LIKE", "ILIKE", "NOT LIKE", "~"]), text()).prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            2 => (boolean(), pick(&["AND", "OR"]), boolean()).prop_map(|(a, op, b)| format!("({a} {op} {b})")),
            1 => boolean().prop_map(|b| format!("NOT {b}")),
            1 => any_ty().prop_map(|x| format!("{x} IS NULL")),
            1 => (int(), proptest::collection::vec(int(), 1..5)).prop_map(|(a, l)| format!("{a} IN ({})", l.join(", "))),
            1 => (int(), int(), int()).prop_map(|(a, b, c)| format!("{a} BETWEEN {b} AND {c}")),
            1 => (int(), array()).prop_map(|(a, b)| format!("{a} = ANY({b})")),
            1 => (time(), time()).prop_map(|(a, b)| format!("{a} < {b}")),
            1 => (array(), int()).prop_map(|(a, b)| format!("array_contains({a}, {b})")),
        ]
        .boxed(),
        Ty::Time => prop_oneof![
            2 => (pick(&["'day'", "'week'", "'month'", "'year'", "'millennium'", "'hour'", "'fortnight'"]), pick(&["", "'Europe/Vienna', ", "'-03:00', ", "'Mars/Phobos', "]), time())
                .prop_map(|(u, z, t)| format!("date_trunc({u}, {z}{t})")),
            1 => (time(), pick(&["'UTC'", "'America/New_York'", "'+99:99'", "'Mars/Phobos'"])).prop_map(|(t, z)| format!("({t} AT TIME ZONE {z})")),
            1 => (time(), int()).prop_map(|(t, i)| format!("({t} + {i})")),
            1 => text().prop_map(|t| format!("TRY_CAST({t} AS TIMESTAMP)")),
        ]
        .boxed(),
        Ty::Array => prop_oneof![
            1 => (array(), array()).prop_map(|(a, b)| format!("array_cat({a}, {b})")),
            1 => array().prop_map(|a| format!("array_unique({a})")),
            1 => proptest::collection::vec(int(), 0..5).prop_map(|l| format!("[{}]", l.join(", "))),
            1 => (array(), int(), int()).prop_map(|(a, x, y)| format!("{a}[{x}:{y}]")),
            1 => text().prop_map(|t| format!("TRY_CAST({t} AS int[])")),
            1 => (array(), array()).prop_map(|(a, b)| format!("({a} || {b})")),
        ]
        .boxed(),
    };
    prop_oneof![1 => leaf(ty), 3 => special].boxed()
}

/// An expression built without regard to types: functions called with any
/// arguments, operators between anything, any column.
fn untyped() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![3 => literal(), 3 => column(), 1 => Just("?".to_string())];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                proptest::sample::select(OPERATORS),
                inner.clone()
            )
                .prop_map(|(l, op, r)| format!("({l} {op} {r})")),
            (
                proptest::sample::select(FUNCTIONS),
                proptest::collection::vec(inner, 0..4)
            )
                .prop_map(|(f, args)| format!("{f}({})", args.join(", "))),
        ]
    })
}

/// An expression of any type.
fn expr() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => proptest::sample::select(ALL_TYPES.to_vec()).prop_flat_map(|t| typed(t, 3)),
        1 => untyped(),
    ]
}

/// A condition.
fn condition() -> impl Strategy<Value = String> {
    typed(Ty::Bool, 3)
}

/// What hostile clients send: deep, long, wide.
fn hostile_expr() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            1usize..3000,
            proptest::sample::select(&["+", "*", "-", "||", "AND", "OR", "=", "<"][..])
        )
            .prop_map(|(n, op)| format!("1{}", format!(" {op} 1").repeat(n))),
        (1usize..400).prop_map(|n| format!("{}1{}", "(".repeat(n), ")".repeat(n))),
        (1usize..3000).prop_map(|n| format!("[1]{}", "[1]".repeat(n))),
        (1usize..300).prop_map(|n| format!("{}1{}", "[".repeat(n), "]".repeat(n))),
        (1usize..300).prop_map(|n| format!("{}1{}", "{a=".repeat(n), "}".repeat(n))),
        (1usize..200).prop_map(|n| format!("{}1{}", "abs(".repeat(n), ")".repeat(n))),
        (1usize..200).prop_map(|n| format!("{}1{}", "- ".repeat(n), "")),
        (1usize..200).prop_map(|n| format!("{}true", "NOT ".repeat(n))),
        (1usize..100).prop_map(|n| format!(
            "{}1{}",
            "CASE WHEN true THEN ".repeat(n),
            " END".repeat(n)
        )),
        (0i64..70_000).prop_map(|n| format!("format('%.{n}f', 1.5)")),
        any::<i64>().prop_map(|n| format!("lpad('a', {n})")),
        any::<i64>().prop_map(|n| format!("repeat('ab', {n})")),
        (any::<i64>(), any::<i64>()).prop_map(|(a, b)| format!("substr('hello', {a}, {b})")),
        (1usize..5).prop_map(|n| format!(
            "{}'a'{}",
            "replace(repeat(".repeat(n),
            ", 100000), 'a', 'bb')".repeat(n)
        )),
        any::<i64>().prop_map(|n| format!("date_trunc('day', {n})")),
        any::<i64>().prop_map(|n| format!("{n}::timestamp AT TIME ZONE 'Europe/Vienna'")),
        Just("'%%'::int[]".to_string()),
    ]
}

/// A query over a source other than `t`, whose one column is `x`.
fn other_query() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            1 => (any::<i64>(), any::<i64>(), any::<i64>())
                .prop_map(|(a, b, c)| format!("generate_series({a}, {b}, {c}) g(x)")),
            2 => (-10i64..10, 0i64..3_000_000).prop_map(|(a, b)| format!("generate_series({a}, {b}) g(x)")),
            1 => Just("(VALUES (1), (2), (NULL)) v(x)".to_string()),
            1 => Just("unnest([1, 2, 3, NULL]) u(x)".to_string()),
            1 => Just("(SELECT id AS x FROM t) sub".to_string()),
            1 => Just("(SELECT num_docs AS x FROM sys.shards) s".to_string()),
        ],
        pick(&[
            "x", "x + 1", "count(*)", "sum(x)", "sum(x) OVER ()", "max(x) OVER (PARTITION BY x % 3)",
            "array_agg(x)", "string_agg(x::text, ',')", "count(DISTINCT x)", "x * 9223372036854775807",
            "percentile(x, [0.5, 0.9])", "DISTINCT x",
        ]),
        proptest::option::of(pick(&["x > 5", "x % 2 = 0", "x IN (1, 1, 1)", "x = 2 OR x = 2", "x IS NULL"])),
        proptest::option::of(pick(&["ORDER BY 1", "ORDER BY 1 DESC LIMIT 3", "LIMIT 0", "LIMIT 9223372036854775807", "OFFSET 5"])),
    )
        .prop_map(|(from, item, filter, tail)| {
            let filter = filter.map(|f| format!(" WHERE {f}")).unwrap_or_default();
            format!("SELECT {item} FROM {from}{filter} {}", tail.unwrap_or(""))
        })
}

/// A query over table `t`.
fn query() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(prop_oneof![
            6 => expr(),
            1 => hostile_expr(),
            1 => Just("count(*)".to_string()),
            1 => (pick(&["sum", "avg", "min", "max", "count", "array_agg", "stddev", "percentile"]), typed(Ty::Int, 2))
                .prop_map(|(f, e)| if f == "percentile" { format!("percentile({e}, 0.5)") } else { format!("{f}({e})") }),
            1 => typed(Ty::Text, 2).prop_map(|e| format!("string_agg({e}, ',')")),
            1 => typed(Ty::Int, 2).prop_map(|e| format!("count(DISTINCT {e})")),
            1 => (typed(Ty::Int, 1), typed(Ty::Int, 1)).prop_map(|(e, p)| format!("sum({e}) OVER (PARTITION BY {p})")),
        ], 1..4),
        proptest::option::of(prop_oneof![3 => condition(), 1 => hostile_expr(), 1 => Just("id IN (1, 1, 1)".to_string()), 1 => Just("id = 2 OR id = 2".to_string())]),
        proptest::option::of(expr()),
        proptest::option::of(any::<u64>()),
        any::<bool>(),
        proptest::option::of(1usize..400),
    )
        .prop_map(|(items, filter, group, limit, distinct, unions)| {
            let mut q = format!(
                "SELECT {}{} FROM t",
                if distinct { "DISTINCT " } else { "" },
                items.join(", ")
            );
            if let Some(f) = filter {
                q.push_str(&format!(" WHERE {f}"));
            }
            if let Some(g) = group {
                q.push_str(&format!(" GROUP BY {g}"));
            }
            if let Some(l) = limit {
                q.push_str(&format!(" LIMIT {l}"));
            }
            if let Some(n) = unions.filter(|n| *n > 350) {
                q = format!("{q}{}", " UNION ALL SELECT 1".repeat(n * 5));
            }
            q
        })
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => literal(),
        1 => (1usize..40).prop_map(|n| format!("{}1{}", "{k=".repeat(n), "}".repeat(n))),
        1 => (1usize..40).prop_map(|n| format!("{}1{}", "[".repeat(n), "]".repeat(n))),
        1 => (0usize..80_000).prop_map(|n| format!("repeat('v', {n})")),
    ]
}

fn statement() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => query(),
        3 => other_query(),
        3 => (0i64..20, value(), value(), value()).prop_map(|(id, a, s, o)| {
            format!("INSERT INTO t (id, a, s, o) VALUES ({id}, {a}, {s}, {o})")
        }),
        1 => (0i64..20, value()).prop_map(|(id, v)| format!("INSERT INTO t (id, newcol) VALUES ({id}, {v})")),
        1 => (0i64..20, value()).prop_map(|(id, v)| format!("INSERT INTO t (id, big, g) VALUES ({id}, {v}, {v})")),
        1 => (0i64..20, value()).prop_map(|(id, v)| format!("INSERT INTO t (id, a) VALUES ({id}, 1) ON CONFLICT (id) DO UPDATE SET o = {v}")),
        2 => (condition(), value()).prop_map(|(f, v)| format!("UPDATE t SET o = {v} WHERE {f}")),
        1 => (condition(), typed(Ty::Int, 2), typed(Ty::Text, 2)).prop_map(|(f, a, s)| format!("UPDATE t SET a = {a}, s = {s} WHERE {f}")),
        1 => condition().prop_map(|f| format!("DELETE FROM t WHERE {f}")),
        2 => (typed(Ty::Int, 2), typed(Ty::Text, 2), condition()).prop_map(|(a, s, f)| {
            format!("INSERT INTO t (id, a, s) (SELECT id + 20, {a}, {s} FROM t WHERE {f}) ON CONFLICT (id) DO UPDATE SET a = excluded.a + 1")
        }),
        3 => (0i64..20, typed(Ty::Int, 2), typed(Ty::Float, 1), typed(Ty::Text, 2), typed(Ty::Time, 1), typed(Ty::Array, 1))
            .prop_map(|(id, a, b, s, ts, arr)| format!("INSERT INTO t (id, a, b, s, ts, arr) VALUES ({id}, {a}, {b}, {s}, {ts}, {arr})")),
        1 => Just("REFRESH TABLE t".to_string()),
        1 => Just("OPTIMIZE TABLE t".to_string()),
        1 => (proptest::sample::select(TYPES), 1usize..40).prop_map(|(ty, n)| {
            format!("ALTER TABLE t ADD COLUMN c{n} {}{ty}{}", "OBJECT AS (x ".repeat(n % 25), ")".repeat(n % 25))
        }),
        1 => (1u64..5, prop_oneof![Just("0".to_string()), Just("1".to_string()), Just("1000000".to_string()), Just("'0-all'".to_string())])
            .prop_map(|(shards, r)| format!("CREATE TABLE IF NOT EXISTS t{shards} (x INT) CLUSTERED INTO {shards} SHARDS WITH (number_of_replicas = {r})")),
        1 => prop_oneof![Just("'1mb'"), Just("'60%'"), Just("'nonsense'"), Just("'0'")]
            .prop_map(|l| format!("SET GLOBAL TRANSIENT \"indices.breaker.query.limit\" = {l}")),
        1 => Just("RESET GLOBAL \"indices.breaker.query.limit\"".to_string()),
        1 => Just("COPY t FROM 'file:///etc/passwd'".to_string()),
        1 => Just("COPY t TO DIRECTORY '/tmp/shoal-fuzz-never'".to_string()),
        1 => Just("SHOW CREATE TABLE t".to_string()),
        1 => hostile_expr().prop_map(|e| format!("SELECT {e}")),
    ]
}

// ---- the runner ---------------------------------------------------------

/// How the statements fared, by outcome: printed at the end, so that a
/// change to the grammar that makes everything a syntax error shows.
static OUTCOMES: std::sync::Mutex<std::collections::BTreeMap<String, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn count(outcome: String) {
    if let Ok(mut m) = OUTCOMES.lock() {
        *m.entry(outcome).or_default() += 1;
    }
}

/// Runs a statement and judges the answer.
fn judge(rt: &real_tokio::runtime::Runtime, node: &Node, sql: &str) -> Result<(), TestCaseError> {
    let session = Session::default();
    let params = vec![Value::Int(7)];
    let answer = rt.block_on(node.execute(&session, sql, params));
    let outcome = match &answer {
        Ok(_) => "rows or count".into(),
        Err(e) => format!(
            "{} {}",
            e.code(),
            e.to_string().split('[').next().unwrap_or("")
        ),
    };
    if std::env::var("SHOAL_FUZZ_SHOW").is_ok() {
        eprintln!(
            "{outcome}: {} => {}",
            shorten(sql),
            answer.as_ref().map(|_| String::new()).unwrap_or_else(|e| e
                .to_string()
                .chars()
                .take(150)
                .collect())
        );
    }
    count(outcome);
    match answer {
        Ok(_) => {}
        Err(Error::Internal(m)) => {
            return Err(TestCaseError::fail(format!(
                "internal error for {}: {m}",
                shorten(sql)
            )));
        }
        Err(e) => {
            let code = e.code();
            prop_assert!(
                (4000..=5999).contains(&code) || (40000..=50000).contains(&code),
                "unexpected code {code} for {}: {e}",
                shorten(sql)
            );
        }
    }
    let mut alive = rt.block_on(node.execute(&session, "SELECT 1", vec![]));
    if matches!(alive, Err(Error::CircuitBreaking(_))) {
        // A statement may have set a breaker limit too tight for anything:
        // the node must answer again once it is reset.
        rt.block_on(node.execute(
            &session,
            "RESET GLOBAL \"indices.breaker.query.limit\"",
            vec![],
        ))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        alive = rt.block_on(node.execute(&session, "SELECT 1", vec![]));
    }
    prop_assert!(
        alive.is_ok(),
        "the node stopped answering after {}: {alive:?}",
        shorten(sql)
    );
    Ok(())
}

fn shorten(sql: &str) -> String {
    if sql.len() <= 300 {
        sql.to_string()
    } else {
        format!("{}... ({} bytes)", &sql[..300], sql.len())
    }
}

#[test]
fn generated_statements_answer_with_rows_or_errors() {
    let rt = real_tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(
        &proptest::collection::vec(statement(), 1..8),
        |statements| {
            let disk: Arc<dyn Disk> = Arc::new(MemDisk::new());
            let config = NodeConfig {
                memory_limit: 256 << 20,
                wire_check: true,
                ..NodeConfig::default()
            };
            let node = Node::open(config, disk).map_err(|e| TestCaseError::fail(e.to_string()))?;
            rt.block_on(node.execute(&Session::default(), SETUP, vec![]))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            for sql in &statements {
                judge(&rt, &node, sql)?;
            }
            Ok(())
        },
    );
    if let Ok(m) = OUTCOMES.lock() {
        eprintln!("outcomes of the generated statements:");
        for (outcome, n) in m.iter() {
            eprintln!("  {n:>8}  {outcome}");
        }
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}
