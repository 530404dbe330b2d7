//! Full-text fields: how a table's full-text indexes become tantivy fields.
//!
//! Every full-text index (`INDEX name USING FULLTEXT (...)` or a column's
//! own `INDEX USING FULLTEXT`) is a text field of its own, `ft.<name>`,
//! after the fields every shard has ([`ShardSchema`]): its own field gives
//! it its own field lengths and term statistics, which BM25 needs exactly
//! as Lucene keeps them per field. The field's tokenizer is the index's
//! analyzer, registered under the field's name when a segment is built.
//!
//! A segment's schema is the table's at the time it was built. Indexes are
//! only appended (ALTER TABLE ADD COLUMN), so an older segment's fields are
//! a prefix of a newer one's, and an index missing from a segment has no
//! values there: queries treat it as matching nothing. Segments of
//! different schemas are merged by rebuilding (see [`super::segment`]).

use std::any::Any;
use std::sync::Arc;

use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{TextAnalyzer, TokenizerManager};

use super::document::{FulltextSource, ShardSchema};
use crate::analysis;
use crate::catalog::TableInfo;
use crate::error::{Error, Result};

/// The tantivy field name of full-text index `index`.
pub fn field_name(index: &str) -> String {
    format!("ft.{index}")
}

/// One full-text index as a field.
#[derive(Debug, Clone)]
pub struct IndexField {
    pub field: Field,
    /// The index's name (`ft.<name>` is the field's).
    pub name: String,
}

/// A table's segment schema: the shard fields and one field per full-text
/// index, with the analyzers that fill them.
pub struct FulltextFields {
    pub schema: Schema,
    pub indexes: Vec<IndexField>,
    sources: Arc<[FulltextSource]>,
    tokenizers: TokenizerManager,
}

impl std::fmt::Debug for FulltextFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FulltextFields")
            .field("indexes", &self.indexes)
            .finish()
    }
}

impl FulltextFields {
    /// The fields of `table`'s segments.
    fn for_table(table: &TableInfo) -> Result<FulltextFields> {
        let tokenizers = TokenizerManager::default();
        let mut builder = ShardSchema::builder();
        let mut indexes = Vec::with_capacity(table.fulltext_indexes.len());
        let mut sources = Vec::with_capacity(table.fulltext_indexes.len());
        for idx in &table.fulltext_indexes {
            let name = field_name(&idx.name);
            let indexing = TextFieldIndexing::default()
                .set_tokenizer(&name)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions);
            let field = builder
                .add_text_field(&name, TextOptions::default().set_indexing_options(indexing));
            tokenizers.register(&name, analysis::build(&idx.analyzer, &table.analyzers)?);
            indexes.push(IndexField {
                field,
                name: idx.name.clone(),
            });
            sources.push(FulltextSource {
                field,
                paths: idx.column_paths(),
            });
        }
        Ok(FulltextFields {
            schema: builder.build(),
            indexes,
            sources: sources.into(),
            tokenizers,
        })
    }

    /// Whether the table has no full-text index.
    pub fn is_empty(&self) -> bool {
        self.indexes.is_empty()
    }

    /// The tokenizers segments are built with.
    pub fn tokenizers(&self) -> &TokenizerManager {
        &self.tokenizers
    }

    /// The index named `name`.
    pub fn index(&self, name: &str) -> Option<&IndexField> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// A fresh analyzer of index `name` (analyzers are stateful streams).
    pub fn analyzer(&self, name: &str) -> Option<TextAnalyzer> {
        self.tokenizers.get(&field_name(name))
    }

    /// Where each full-text field takes its values from, for building documents.
    pub fn sources(&self) -> Arc<[FulltextSource]> {
        self.sources.clone()
    }
}

/// The full-text fields of `table`, built once per table version.
pub fn fields(table: &TableInfo) -> Result<Arc<FulltextFields>> {
    // The catalog sits below storage, so it caches the value type-erased.
    let cached = table.derived.get_or_init(|| {
        let built: Result<Arc<FulltextFields>> = FulltextFields::for_table(table).map(Arc::new);
        Arc::new(built) as Arc<dyn Any + Send + Sync>
    });
    match cached.downcast_ref::<Result<Arc<FulltextFields>>>() {
        Some(r) => r.clone(),
        None => Err(Error::internal("table cache holds another type")),
    }
}
