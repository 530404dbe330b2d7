//! SQL data types, as CrateDB names and numbers them.

use serde::{Deserialize, Serialize};

/// How an object treats keys it does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ColumnPolicy {
    /// Unknown keys become new columns (schema grows on insert).
    #[default]
    Dynamic,
    /// Unknown keys are rejected.
    Strict,
    /// Unknown keys are stored but not indexed or typed.
    Ignored,
}

impl ColumnPolicy {
    /// The policy's SQL spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            ColumnPolicy::Dynamic => "dynamic",
            ColumnPolicy::Strict => "strict",
            ColumnPolicy::Ignored => "ignored",
        }
    }

    /// Parses `dynamic`, `strict` or `ignored` (any case); `true` means strict as in CrateDB.
    pub fn parse(s: &str) -> Option<ColumnPolicy> {
        match s.to_ascii_lowercase().as_str() {
            "dynamic" | "false" => Some(ColumnPolicy::Dynamic),
            "strict" | "true" => Some(ColumnPolicy::Strict),
            "ignored" => Some(ColumnPolicy::Ignored),
            _ => None,
        }
    }
}

/// A declared field of an object type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectField {
    pub name: String,
    pub data_type: DataType,
}

/// An object type: a policy plus its known fields, in declaration order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ObjectType {
    pub policy: ColumnPolicy,
    pub fields: Vec<ObjectField>,
}

impl ObjectType {
    /// The type of field `name`, if declared.
    pub fn field(&self, name: &str) -> Option<&DataType> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.data_type)
    }
}

/// A SQL data type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DataType {
    /// The type of a bare `NULL`; casts to anything.
    Undefined,
    Boolean,
    SmallInt,
    Integer,
    BigInt,
    Real,
    Double,
    Text,
    /// Milliseconds since the epoch; `tz` for `TIMESTAMP WITH TIME ZONE`.
    Timestamp {
        tz: bool,
    },
    Object(Box<ObjectType>),
    Array(Box<DataType>),
    /// A point as `[longitude, latitude]`.
    GeoPoint,
    /// A shape as a GeoJSON object (see [`crate::types::geo`]).
    GeoShape,
}

impl DataType {
    /// An untyped dynamic object.
    pub fn object() -> DataType {
        DataType::Object(Box::default())
    }

    /// CrateDB's type name (`information_schema.columns.data_type`).
    pub fn name(&self) -> String {
        match self {
            DataType::Undefined => "undefined".into(),
            DataType::Boolean => "boolean".into(),
            DataType::SmallInt => "smallint".into(),
            DataType::Integer => "integer".into(),
            DataType::BigInt => "bigint".into(),
            DataType::Real => "real".into(),
            DataType::Double => "double precision".into(),
            DataType::Text => "text".into(),
            DataType::Timestamp { tz: true } => "timestamp with time zone".into(),
            DataType::Timestamp { tz: false } => "timestamp without time zone".into(),
            DataType::Object(_) => "object".into(),
            DataType::Array(inner) => format!("{}_array", inner.name()),
            DataType::GeoPoint => "geo_point".into(),
            DataType::GeoShape => "geo_shape".into(),
        }
    }

    /// The SQL spelling used in casts and `SHOW CREATE TABLE`-like output.
    pub fn sql_name(&self) -> String {
        match self {
            DataType::Array(inner) => format!("ARRAY({})", inner.sql_name()),
            DataType::Object(o) => format!("OBJECT({})", o.policy.as_str().to_uppercase()),
            other => other.name().to_uppercase(),
        }
    }

    /// The numeric id in `col_types` of an HTTP response.
    pub fn type_id(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            DataType::Undefined => json!(0),
            DataType::Boolean => json!(3),
            DataType::Text => json!(4),
            DataType::Double => json!(6),
            DataType::Real => json!(7),
            DataType::SmallInt => json!(8),
            DataType::Integer => json!(9),
            DataType::BigInt => json!(10),
            DataType::Timestamp { tz: true } => json!(11),
            DataType::Object(_) => json!(12),
            DataType::Timestamp { tz: false } => json!(15),
            DataType::GeoPoint => json!(13),
            DataType::GeoShape => json!(14),
            DataType::Array(inner) => json!([100, inner.type_id()]),
        }
    }

    /// Whether this is a numeric type (including timestamps, which are numbers underneath).
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            DataType::SmallInt
                | DataType::Integer
                | DataType::BigInt
                | DataType::Real
                | DataType::Double
        )
    }

    /// Whether values of this type are whole numbers.
    pub fn is_integral(&self) -> bool {
        matches!(
            self,
            DataType::SmallInt | DataType::Integer | DataType::BigInt
        )
    }

    /// Whether this type is stored as a single indexed scalar (a fast-field column).
    pub fn is_scalar(&self) -> bool {
        !matches!(
            self,
            DataType::Object(_) | DataType::Array(_) | DataType::Undefined | DataType::GeoShape
        )
    }

    /// Whether values of this type are kept in `_source` only, not indexed:
    /// geo points and shapes, read back whole and tested row by row.
    pub fn is_source_only(&self) -> bool {
        matches!(self, DataType::GeoPoint | DataType::GeoShape)
    }

    /// The element type of an array, or the type itself.
    pub fn element(&self) -> &DataType {
        match self {
            DataType::Array(inner) => inner,
            other => other,
        }
    }

    /// Precedence for implicit conversions: the higher type wins in mixed expressions.
    pub fn precedence(&self) -> u8 {
        match self {
            DataType::Undefined => 0,
            DataType::Text => 1,
            DataType::Boolean => 2,
            DataType::SmallInt => 3,
            DataType::Integer => 4,
            DataType::BigInt => 5,
            DataType::Real => 6,
            DataType::Double => 7,
            DataType::Timestamp { tz: false } => 8,
            DataType::Timestamp { tz: true } => 9,
            DataType::Object(_) => 10,
            DataType::GeoPoint | DataType::GeoShape => 10,
            DataType::Array(_) => 11,
        }
    }

    /// Parses a simple type name as used in casts (`int`, `text`, `double precision`, `int[]`).
    pub fn from_name(name: &str) -> Option<DataType> {
        let n = name.trim().to_ascii_lowercase();
        let n = n.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(inner) = n.strip_suffix("[]") {
            return DataType::from_name(inner).map(|t| DataType::Array(Box::new(t)));
        }
        if let Some(inner) = n.strip_prefix("array(").and_then(|s| s.strip_suffix(')')) {
            return DataType::from_name(inner).map(|t| DataType::Array(Box::new(t)));
        }
        let base = n.split('(').next().unwrap_or("").trim();
        Some(match base {
            "boolean" | "bool" => DataType::Boolean,
            "smallint" | "short" | "int2" | "byte" | "tinyint" => DataType::SmallInt,
            "integer" | "int" | "int4" | "signed" => DataType::Integer,
            "bigint" | "long" | "int8" => DataType::BigInt,
            "real" | "float" | "float4" => DataType::Real,
            "double" | "double precision" | "float8" | "numeric" | "decimal" => DataType::Double,
            "text" | "string" | "varchar" | "character varying" | "char" | "character" => {
                DataType::Text
            }
            "timestamp with time zone" | "timestamptz" => DataType::Timestamp { tz: true },
            "timestamp without time zone" | "timestamp" => DataType::Timestamp { tz: false },
            "object" => DataType::object(),
            "geo_point" => DataType::GeoPoint,
            "geo_shape" => DataType::GeoShape,
            _ => return None,
        })
    }
}

impl std::fmt::Display for DataType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataType::Array(inner) => write!(f, "{}_array", inner),
            other => f.write_str(&other.name()),
        }
    }
}
