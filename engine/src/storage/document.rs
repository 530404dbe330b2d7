//! How a row becomes a tantivy document.
//!
//! Every shard of every table uses the same static tantivy schema:
//!
//! | field           | what                                               |
//! |-----------------|----------------------------------------------------|
//! | `_id`           | the document id, stored (lookups go through the pk index) |
//! | `_idh`          | the id's 64-bit hash, fast column (moves pk entries on merge and recovery) |
//! | `_seq_no`       | sequence number, fast column                       |
//! | `_version`      | version, fast column, absent when 1                |
//! | `_primary_term` | primary term at write time, fast column, absent when 1 |
//! | `_source`       | the row, binary-encoded ([`super::source`]), stored |
//! | `doc`           | every user column, as a JSON object: each leaf is indexed (exact terms) and a fast column (`doc.col`, `doc.obj.key`) |
//!
//! Putting the user columns into one JSON field lets the table's schema grow
//! (dynamic columns, ALTER TABLE ADD COLUMN) without changing the tantivy
//! schema, so segments built before and after a schema change still merge.
//! Values are cast to their column's type before they get here, so a column
//! always has one tantivy value type.
//!
//! Nearly every document is the first version of its row, written in the
//! shard's first primary term, so `_version` and `_primary_term` are only
//! written when they are not 1 ([`MetaColumn`] reads them): each u64 column
//! costs tantivy about 900 instructions per document to fill and write.

use std::sync::Arc;

use tantivy::columnar::Column;
use tantivy::schema::document::Value as _;
use tantivy::schema::document::{Document, ReferenceValue, ReferenceValueLeaf};
use tantivy::schema::{
    BytesOptions, Field, IndexRecordOption, JsonObjectOptions, NumericOptions, Schema,
    TextFieldIndexing, TextOptions,
};
use tantivy::{SegmentReader, TantivyDocument};

use crate::catalog::TableInfo;
use crate::types::{ColumnPolicy, DataType, Key, Object, ObjectType, Value};

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
        let mut fields = Self::add_fields(&mut b);
        fields.schema = b.build();
        fields
    }

    /// A schema builder holding the fields every shard has, to which a
    /// table adds its full-text fields ([`super::fulltext`]).
    pub fn builder() -> ShardSchemaBuilder {
        let mut builder = Schema::builder();
        Self::add_fields(&mut builder);
        ShardSchemaBuilder { builder }
    }

    /// Adds the shard fields to `b`; the schema is left empty.
    fn add_fields(b: &mut tantivy::schema::SchemaBuilder) -> ShardSchema {
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
            schema: Schema::builder().build(),
            id,
            id_hash,
            seq_no,
            version,
            primary_term,
            source,
            doc,
        }
    }

    /// The `_id` of a document read from a segment's store.
    pub fn stored_id(&self, stored: &TantivyDocument) -> Option<String> {
        stored
            .get_first(self.id)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }

    /// The `_source` bytes of a document read from a segment's store.
    pub fn stored_source<'a>(&self, stored: &'a TantivyDocument) -> &'a [u8] {
        stored
            .get_first(self.source)
            .and_then(|v| v.as_bytes())
            .unwrap_or(&[])
    }
}

/// The shard fields, and a builder to add more fields after them.
pub struct ShardSchemaBuilder {
    builder: tantivy::schema::SchemaBuilder,
}

impl ShardSchemaBuilder {
    /// Adds a text field after the shard fields.
    pub fn add_text_field(&mut self, name: &str, options: TextOptions) -> Field {
        self.builder.add_text_field(name, options)
    }

    /// The schema: the shard fields, then the added ones.
    pub fn build(self) -> Schema {
        self.builder.build()
    }
}

impl Default for ShardSchema {
    fn default() -> Self {
        ShardSchema::new()
    }
}

/// The schema every shard of every table shares, built once.
pub fn shard_schema() -> &'static ShardSchema {
    static SCHEMA: std::sync::OnceLock<ShardSchema> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(ShardSchema::new)
}

/// A stored row with its replication metadata.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StoredDoc {
    pub id: String,
    pub seq_no: u64,
    pub version: u64,
    pub primary_term: u64,
    /// The row: top-level column name to value.
    pub source: Arc<Object>,
}

/// A metadata fast column of a segment, with the value its missing
/// entries stand for.
#[derive(Clone)]
pub struct MetaColumn {
    column: Option<Column<u64>>,
    missing: Option<u64>,
}

impl MetaColumn {
    /// `_seq_no`: every document has one.
    pub fn seq_no(reader: &SegmentReader) -> tantivy::Result<MetaColumn> {
        Self::open(reader, "_seq_no", None)
    }

    /// `_version`: written only when it is not 1.
    pub fn version(reader: &SegmentReader) -> tantivy::Result<MetaColumn> {
        Self::open(reader, "_version", Some(1))
    }

    /// `_primary_term`: written only when it is not 1.
    pub fn primary_term(reader: &SegmentReader) -> tantivy::Result<MetaColumn> {
        Self::open(reader, "_primary_term", Some(1))
    }

    fn open(
        reader: &SegmentReader,
        name: &str,
        missing: Option<u64>,
    ) -> tantivy::Result<MetaColumn> {
        // A segment none of whose documents has a value has no column at all.
        let column = reader.fast_fields().column_opt::<u64>(name)?;
        Ok(MetaColumn { column, missing })
    }

    /// The value of `doc`.
    pub fn get(&self, doc: u32) -> Option<u64> {
        self.column
            .as_ref()
            .and_then(|c| c.first(doc))
            .or(self.missing)
    }
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

/// A written row as the indexing buffer keeps it, with its `_source` as
/// encoded for the translog (the segment stores the same bytes).
///
/// The columns are kept as a plain slice, without the hash index of an
/// [`Object`]: nothing looks a buffered row's columns up by name (a get
/// builds an `Object`), and buffered rows can number millions when
/// refreshes fall behind a load. That saves about 140 bytes and two
/// allocations per row, and the allocations are freed on another thread.
#[derive(Debug, Clone)]
pub struct BufferedDoc {
    pub id: String,
    pub seq_no: u64,
    pub version: u64,
    pub primary_term: u64,
    pub columns: Box<[(Key, Value)]>,
    pub bytes: Arc<[u8]>,
}

impl BufferedDoc {
    /// The buffered form of `doc`, whose `_source` is `bytes`.
    pub fn new(
        id: String,
        seq_no: u64,
        version: u64,
        primary_term: u64,
        row: Object,
        bytes: Arc<[u8]>,
    ) -> BufferedDoc {
        BufferedDoc {
            id,
            seq_no,
            version,
            primary_term,
            columns: row.into_iter().collect(),
            bytes,
        }
    }

    /// The document, as gets return it.
    pub fn to_stored(&self) -> StoredDoc {
        StoredDoc {
            id: self.id.clone(),
            seq_no: self.seq_no,
            version: self.version,
            primary_term: self.primary_term,
            source: Arc::new(self.columns.iter().cloned().collect()),
        }
    }
}

/// Where a full-text field ([`super::fulltext`]) takes its values from:
/// the column paths it indexes.
#[derive(Debug, Clone)]
pub struct FulltextSource {
    pub field: Field,
    /// Top-level column and path below it.
    pub paths: Vec<(String, Vec<String>)>,
}

/// The text values at `path` below `v`, arrays flattened.
fn texts_at<'a>(v: &'a Value, path: &[String], f: &mut impl FnMut(&'a str)) {
    match v {
        Value::Array(items) => {
            for item in items {
                texts_at(item, path, f);
            }
        }
        Value::Object(o) => {
            if let Some((key, rest)) = path.split_first()
                && let Some(child) = o.get(key.as_str())
            {
                texts_at(child, rest, f);
            }
        }
        Value::Text(s) if path.is_empty() => f(s),
        _ => {}
    }
}

/// A buffered row as tantivy indexes it. It implements tantivy's
/// [`Document`] directly, so the indexer walks the row's own values: no
/// intermediate `TantivyDocument` is built and no string is copied before
/// tantivy writes it into its postings, columns and store. It points into
/// the frozen buffer rather than owning a copy of the row.
#[derive(Debug)]
pub struct RowDoc {
    schema: &'static ShardSchema,
    table: Arc<TableInfo>,
    /// The table's full-text fields, when it has any.
    fulltext: Option<Arc<[FulltextSource]>>,
    docs: Arc<Vec<BufferedDoc>>,
    idx: usize,
    /// The id's hash, computed once: tantivy walks a document's fields
    /// several times (postings, columns, store).
    id_hash: u64,
}

impl RowDoc {
    /// The document for row `idx` of `docs`. Panics if there is no such row.
    pub fn new(
        schema: &'static ShardSchema,
        table: Arc<TableInfo>,
        fulltext: Option<Arc<[FulltextSource]>>,
        docs: Arc<Vec<BufferedDoc>>,
        idx: usize,
    ) -> RowDoc {
        RowDoc {
            id_hash: super::pk::id_hash(&docs[idx].id),
            schema,
            table,
            fulltext,
            docs,
            idx,
        }
    }

    fn row(&self) -> &BufferedDoc {
        &self.docs[self.idx]
    }
}

impl Document for RowDoc {
    type Value<'a> = Cell<'a>;
    type FieldsValuesIter<'a> = RowFields<'a>;

    fn iter_fields_and_values(&self) -> RowFields<'_> {
        let mut texts = Vec::new();
        if let Some(sources) = &self.fulltext {
            for source in sources.iter() {
                for (column, path) in &source.paths {
                    let columns = &self.row().columns;
                    if let Some((_, v)) = columns.iter().find(|(k, _)| k.as_str() == column) {
                        texts_at(v, path, &mut |s| texts.push((source.field, s)));
                    }
                }
            }
        }
        RowFields {
            row: self,
            next: 0,
            texts: texts.into_iter(),
        }
    }
}

/// The fields of a [`RowDoc`], in schema order.
pub struct RowFields<'a> {
    row: &'a RowDoc,
    next: u8,
    /// The values of the full-text fields, after the shard fields.
    texts: std::vec::IntoIter<(Field, &'a str)>,
}

impl<'a> Iterator for RowFields<'a> {
    type Item = (Field, Cell<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let (row, s) = (self.row, self.row.schema);
        let doc = row.row();
        let leaf = |l| Cell::Leaf(l);
        let item = match self.next {
            0 => (s.id, leaf(ReferenceValueLeaf::Str(doc.id.as_str()))),
            1 => (s.id_hash, leaf(ReferenceValueLeaf::U64(row.id_hash))),
            2 => (s.seq_no, leaf(ReferenceValueLeaf::U64(doc.seq_no))),
            3 if doc.version != 1 => (s.version, leaf(ReferenceValueLeaf::U64(doc.version))),
            4 if doc.primary_term != 1 => (
                s.primary_term,
                leaf(ReferenceValueLeaf::U64(doc.primary_term)),
            ),
            3 | 4 => {
                // Not written: a missing value means 1.
                self.next += 1;
                return self.next();
            }
            5 => (s.source, leaf(ReferenceValueLeaf::Bytes(&row.row().bytes))),
            6 => (s.doc, Cell::Row(row)),
            _ => {
                let (field, text) = self.texts.next()?;
                return Some((field, leaf(ReferenceValueLeaf::Str(text))));
            }
        };
        self.next += 1;
        Some(item)
    }
}

/// A value inside a [`RowDoc`], with the declared type that decides how it
/// is indexed (an integer in a `double` column is indexed as a float).
#[derive(Debug, Clone)]
pub enum Cell<'a> {
    Leaf(ReferenceValueLeaf<'a>),
    /// The user columns, as the `doc` JSON object.
    Row(&'a RowDoc),
    Value(&'a Value, Option<&'a DataType>),
}

impl<'a> tantivy::schema::document::Value<'a> for Cell<'a> {
    type ArrayIter = ArrayCells<'a>;
    type ObjectIter = ObjectCells<'a>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        let (v, ty) = match self {
            Cell::Leaf(l) => return ReferenceValue::Leaf(l.clone()),
            Cell::Row(row) => {
                return ReferenceValue::Object(ObjectCells::Columns {
                    table: &row.table,
                    iter: row.row().columns.iter().enumerate(),
                });
            }
            Cell::Value(v, ty) => (*v, *ty),
        };
        ReferenceValue::Leaf(match v {
            Value::Null => ReferenceValueLeaf::Null,
            Value::Bool(b) => ReferenceValueLeaf::Bool(*b),
            Value::Int(i) => match ty.map(DataType::element) {
                Some(DataType::Real | DataType::Double) => ReferenceValueLeaf::F64(*i as f64),
                _ => ReferenceValueLeaf::I64(*i),
            },
            Value::Float(f) => ReferenceValueLeaf::F64(*f),
            Value::Text(s) => ReferenceValueLeaf::Str(s),
            Value::Array(items) => {
                return ReferenceValue::Array(ArrayCells {
                    ty: ty.map(DataType::element),
                    iter: items.iter(),
                });
            }
            Value::Object(o) => {
                let object = match ty.map(DataType::element) {
                    Some(DataType::Object(ot)) => Some(ot.as_ref()),
                    _ => None,
                };
                return ReferenceValue::Object(ObjectCells::Fields {
                    object,
                    iter: o.iter(),
                });
            }
        })
    }
}

/// The elements of an array value.
pub struct ArrayCells<'a> {
    ty: Option<&'a DataType>,
    iter: std::slice::Iter<'a, Value>,
}

impl<'a> Iterator for ArrayCells<'a> {
    type Item = Cell<'a>;

    fn next(&mut self) -> Option<Cell<'a>> {
        self.iter.next().map(|v| Cell::Value(v, self.ty))
    }
}

/// The indexed entries of a row (its columns) or of an object value.
pub enum ObjectCells<'a> {
    Columns {
        table: &'a TableInfo,
        iter: std::iter::Enumerate<std::slice::Iter<'a, (Key, Value)>>,
    },
    Fields {
        object: Option<&'a ObjectType>,
        iter: indexmap::map::Iter<'a, Key, Value>,
    },
}

impl<'a> Iterator for ObjectCells<'a> {
    type Item = (&'a str, Cell<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            ObjectCells::Columns { table, iter } => {
                for (i, (name, v)) in iter.by_ref() {
                    let col = table.column_near(i, name);
                    // Columns declared `INDEX OFF` and the unknown columns of
                    // an `ignored` table are kept in `_source` only.
                    if col.is_some_and(|c| c.index_off || c.data_type.is_source_only())
                        || (col.is_none() && table.column_policy == ColumnPolicy::Ignored)
                    {
                        continue;
                    }
                    return Some((name.as_str(), Cell::Value(v, col.map(|c| &c.data_type))));
                }
                None
            }
            ObjectCells::Fields { object, iter } => {
                for (key, v) in iter.by_ref() {
                    let ty = object.and_then(|ot| ot.field(key));
                    // Ignored objects store unknown keys without indexing them.
                    if ty.is_none() && object.is_some_and(|ot| ot.policy == ColumnPolicy::Ignored) {
                        continue;
                    }
                    return Some((key.as_str(), Cell::Value(v, ty)));
                }
                None
            }
        }
    }
}
