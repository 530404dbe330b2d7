//! Data types and values: the type system shared by SQL, storage and the wire.

pub mod cast;
mod datatype;
pub mod geo;
pub mod json;
pub mod time;
mod value;

pub use datatype::{ColumnPolicy, DataType, ObjectField, ObjectType};
pub use value::{Key, Object, Row, Value, format_f32, format_f64};
