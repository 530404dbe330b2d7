//! Round trips through the codec. Every request and response that the SQL
//! scripts and the fuzz test produce also crosses it (`wire_check`); these
//! tests cover the value shapes and every error.

use proptest::prelude::*;

use super::codec::{decode, encode};
use super::*;
use crate::error::Error;
use crate::types::{DataType, Object, Value};

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        prop_oneof![Just(f64::NAN), Just(f64::INFINITY), Just(f64::NEG_INFINITY)]
            .prop_map(Value::Float),
        ".{0,12}".prop_map(Value::Text),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(("[a-z_]{1,30}", inner), 0..6).prop_map(|entries| {
                let obj: Object = entries.into_iter().map(|(k, v)| (k.into(), v)).collect();
                Value::Object(Box::new(obj))
            }),
        ]
    })
}

/// Values compare by their encoding: NaN is not equal to itself.
fn same(a: &Value, b: &Value) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

proptest! {
    #[test]
    fn values_survive_the_codec(v in value()) {
        let back: Value = decode(&encode(&v).unwrap()).unwrap();
        prop_assert!(same(&v, &back), "{v:?} came back as {back:?}");
    }

    #[test]
    fn query_results_survive_the_codec(rows in proptest::collection::vec(proptest::collection::vec(value(), 2), 0..8)) {
        let result = QueryResult {
            cols: vec!["a".into(), "b".into()],
            types: vec![DataType::BigInt, DataType::Object(Default::default())],
            rowcount: rows.len() as i64,
            rows,
        };
        let back: QueryResult = decode(&encode(&result).unwrap()).unwrap();
        prop_assert_eq!(format!("{result:?}"), format!("{back:?}"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode::<ShardRequest>(&bytes);
        let _ = decode::<ShardResponse>(&bytes);
    }
}

#[test]
fn every_error_survives_the_codec() {
    let errors = vec![
        Error::Parse("p".into()),
        Error::Cast("c".into()),
        Error::InvalidArgument("i".into()),
        Error::Unsupported("u".into()),
        Error::UnknownFunction("f".into()),
        Error::ColumnValidation {
            column: "x".into(),
            reason: "r".into(),
        },
        Error::InvalidRelationName("n".into()),
        Error::InvalidColumnName("n".into()),
        Error::RelationUnknown("t".into()),
        Error::ColumnUnknown("c".into()),
        Error::SchemaUnknown("s".into()),
        Error::DocumentMissing("d".into()),
        Error::DuplicateKey,
        Error::VersionConflict("v".into()),
        Error::RelationExists("t".into()),
        Error::Arithmetic("a".into()),
        Error::TooLarge("big".into()),
        Error::ShardsUnavailable("s".into()),
        Error::CircuitBreaking("b".into()),
        Error::Killed("k".into()),
        Error::Io("io".into()),
        Error::internal("bug"),
    ];
    for e in errors {
        let back: Error = decode(&encode(&e).unwrap()).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.code(), e.code());
    }
    let outcome = WriteOutcome::Failed(Error::DuplicateKey);
    let back: WriteOutcome = decode(&encode(&outcome).unwrap()).unwrap();
    assert_eq!(back, outcome);
}

mod bucket {
    use super::super::Bucket;
    use crate::expr::{EvalCtx, Expr};
    use crate::types::{DataType, Value};

    fn buckets(count: u32) -> Vec<Bucket> {
        (0..count)
            .map(|index| Bucket {
                keys: vec![Expr::Column(0, DataType::Undefined)],
                index,
                count,
                side: 0,
            })
            .collect()
    }

    fn holders(row: &[Value], buckets: &[Bucket]) -> Vec<u32> {
        let ctx = EvalCtx::new(vec![]);
        buckets
            .iter()
            .filter(|b| b.holds(row, &ctx).expect("key"))
            .map(|b| b.index)
            .collect()
    }

    #[test]
    fn every_row_is_in_exactly_one_bucket_and_equal_keys_share_it() {
        let three = buckets(3);
        let mut used = std::collections::BTreeSet::new();
        for i in 0..200i64 {
            let held = holders(&[Value::Int(i)], &three);
            assert_eq!(held.len(), 1, "key {i}: {held:?}");
            used.extend(held.iter().copied());
            // A key compared equal across types hashes alike.
            assert_eq!(holders(&[Value::Float(i as f64)], &three), held);
        }
        assert_eq!(used.len(), 3, "the keys spread over every bucket");
        assert_eq!(holders(&[Value::Null], &three), vec![0]);
        assert_eq!(holders(&[Value::Int(7)], &buckets(1)), vec![0]);
    }
}
