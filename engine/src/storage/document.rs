//! How a row becomes a tantivy document.
//!
//! Every shard of every table uses the same static tantivy schema:
//!
//! | field           | what                                               |
//! |-----------------|----------------------------------------------------|
//! | `_id`           | the document id, stored (lookups go through the pk index) |
//! | `_idh`          | the id's 64-bit hash, fast column (moves pk entries on merge and recovery) |
//! | `_seq_no`       | sequence number, fast column                       |
//! | `_version`      | version, fast column                               |
//! | `_primary_term` | primary term at write time, fast column            |
//! | `_source`       | the row as compact JSON, stored                    |
//! | `doc`           | every user column, as a JSON object: each leaf is indexed (exact terms) and a fast column (`doc.col`, `doc.obj.key`) |
//!
//! Putting the user columns into one JSON field lets the table's schema grow
//! (dynamic columns, ALTER TABLE ADD COLUMN) without changing the tantivy
//! schema, so segments built before and after a schema change still merge.
//! Values are cast to their column's type before they get here, so a column
//! always has one tantivy value type.

use std::sync::Arc;

use tantivy::TantivyDocument;
use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf};
use tantivy::schema::{
    BytesOptions, Field, IndexRecordOption, JsonObjectOptions, NumericOptions, Schema,
    TextFieldIndexing, TextOptions,
};

use crate::catalog::TableInfo;
use crate::types::{ColumnPolicy, DataType, Object, Value};

/// Name of the JSON field holding user columns.
pub const DOC_FIELD: &str = "doc";

/// The shard schema and its fields.
#[derive(Debug, Clone)]
pub struct ShardSchema {
    pub schema: Schema,
    pub id: Field,
    pub id_hash: Field,
    pub seq_no: Field,
    pub version: Field,
    pub primary_term: Field,
    pub source: Field,
    pub doc: Field,
}

impl ShardSchema {
    /// Builds the (static) schema.
    pub fn new() -> ShardSchema {
        let mut b = Schema::builder();
        let raw = TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false);
        // Ids are found through the pk index, never through terms. Segments
        // keep the id stored and its 64-bit hash as a fast column: the hash is
        // all merges and recovery need to move pk entries, and a dictionary of
        // one unique string per document would be costly to build and merge.
        let id = b.add_text_field("_id", TextOptions::default().set_stored());
        let id_hash = b.add_u64_field("_idh", NumericOptions::default().set_fast());
        let seq_no = b.add_u64_field("_seq_no", NumericOptions::default().set_fast());
        let version = b.add_u64_field("_version", NumericOptions::default().set_fast());
        let primary_term = b.add_u64_field("_primary_term", NumericOptions::default().set_fast());
        let source = b.add_bytes_field("_source", BytesOptions::default().set_stored());
        let doc = b.add_json_field(
            DOC_FIELD,
            JsonObjectOptions::default()
                .set_indexing_options(raw)
                .set_fast("raw"),
        );
        ShardSchema {
            schema: b.build(),
            id,
            id_hash,
            seq_no,
            version,
            primary_term,
            source,
            doc,
        }
    }
}

impl Default for ShardSchema {
    fn default() -> Self {
        ShardSchema::new()
    }
}

/// A stored row with its replication metadata.
#[derive(Debug, Clone)]
pub struct StoredDoc {
    pub id: String,
    pub seq_no: u64,
    pub version: u64,
    pub primary_term: u64,
    /// The row: top-level column name to value.
    pub source: Arc<Object>,
}

/// The fast-column name of a column path: `doc.col` or `doc.obj.key`.
pub fn column_path(column: &str, path: &[String]) -> String {
    let mut s = String::with_capacity(DOC_FIELD.len() + column.len() + 1);
    s.push_str(DOC_FIELD);
    s.push('.');
    s.push_str(column);
    for p in path {
        s.push('.');
        s.push_str(p);
    }
    s
}

/// Serialises a row as compact JSON (the `_source`).
pub fn source_bytes(source: &Object) -> Vec<u8> {
    // Serialising a map of plain values to a Vec cannot fail.
    serde_json::to_vec(source).unwrap_or_default()
}

/// Parses a stored `_source`.
pub fn parse_source(bytes: &[u8]) -> Object {
    serde_json::from_slice::<Object>(bytes).unwrap_or_default()
}

/// A row value as tantivy sees it, borrowing from the row (no copies until
/// tantivy writes it into its document arena).
#[derive(Debug, Clone)]
enum Cell<'a> {
    Leaf(ReferenceValueLeaf<'a>),
    Array(Vec<Cell<'a>>),
    Object(Vec<(&'a str, Cell<'a>)>),
}

impl<'a> tantivy::schema::document::Value<'a> for Cell<'a> {
    type ArrayIter = std::vec::IntoIter<Cell<'a>>;
    type ObjectIter = std::vec::IntoIter<(&'a str, Cell<'a>)>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        match self {
            Cell::Leaf(l) => ReferenceValue::Leaf(l.clone()),
            Cell::Array(items) => ReferenceValue::Array(items.clone().into_iter()),
            Cell::Object(fields) => ReferenceValue::Object(fields.clone().into_iter()),
        }
    }
}

/// The indexable form of `v` (of declared type `ty`, if known); `None` for nothing to index.
fn cell<'a>(v: &'a Value, ty: Option<&'a DataType>) -> Option<Cell<'a>> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => Cell::Leaf(ReferenceValueLeaf::Bool(*b)),
        Value::Int(i) => match ty {
            Some(DataType::Real | DataType::Double) => {
                Cell::Leaf(ReferenceValueLeaf::F64(*i as f64))
            }
            _ => Cell::Leaf(ReferenceValueLeaf::I64(*i)),
        },
        Value::Float(f) => Cell::Leaf(ReferenceValueLeaf::F64(*f)),
        Value::Text(s) => Cell::Leaf(ReferenceValueLeaf::Str(s)),
        Value::Array(items) => {
            let inner = ty.map(|t| t.element());
            let vals: Vec<Cell> = items.iter().filter_map(|x| cell(x, inner)).collect();
            if vals.is_empty() {
                return None;
            }
            Cell::Array(vals)
        }
        Value::Object(o) => {
            let obj_ty = match ty.map(|t| t.element()) {
                Some(DataType::Object(ot)) => Some(ot.as_ref()),
                _ => None,
            };
            let mut fields = Vec::with_capacity(o.len());
            for (k, x) in o.iter() {
                let field_ty = obj_ty.and_then(|ot| ot.field(k));
                // Ignored objects store unknown keys without indexing them.
                if field_ty.is_none() && obj_ty.map(|ot| ot.policy) == Some(ColumnPolicy::Ignored) {
                    continue;
                }
                if let Some(val) = cell(x, field_ty) {
                    fields.push((k.as_str(), val));
                }
            }
            if fields.is_empty() {
                return None;
            }
            Cell::Object(fields)
        }
    })
}

/// Builds the tantivy document for a row.
pub fn to_tantivy(
    schema: &ShardSchema,
    table: &TableInfo,
    doc: &StoredDoc,
    source: &[u8],
) -> TantivyDocument {
    let mut td = TantivyDocument::new();
    td.add_text(schema.id, &doc.id);
    td.add_u64(schema.id_hash, super::pk::id_hash(&doc.id));
    td.add_u64(schema.seq_no, doc.seq_no);
    td.add_u64(schema.version, doc.version);
    td.add_u64(schema.primary_term, doc.primary_term);
    td.add_bytes(schema.source, source);
    let mut fields = Vec::with_capacity(doc.source.len());
    for (name, v) in doc.source.iter() {
        let col = table.column(name);
        if col.is_some_and(|c| c.index_off) {
            continue;
        }
        if col.is_none() && table.column_policy == ColumnPolicy::Ignored {
            continue;
        }
        if let Some(val) = cell(v, col.map(|c| &c.data_type)) {
            fields.push((name.as_str(), val));
        }
    }
    if !fields.is_empty() {
        td.add_field_value(schema.doc, Cell::Object(fields));
    }
    td
}
