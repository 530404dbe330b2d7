//! Full-text search on a shard: a MATCH predicate becomes a tantivy query
//! over the table's full-text fields (or over the plain index of a text
//! column), scored with BM25 as Lucene scores it.
//!
//! Lucene's BM25 (k1 1.2, b 0.75) takes its statistics per field over the
//! whole shard: `docCount` (documents with the field), the field's total
//! term count (its average length) and each term's document frequency.
//! [`FieldStats`] computes them over every segment of the snapshot; terms
//! are scored with them exactly as Lucene does ([`super::bm25`]). Phrase
//! queries are scored by tantivy's BM25 with the same statistics, scaled to
//! Lucene's (equal up to rounding in the last digit).
//!
//! Match types follow Elasticsearch's `multi_match`: `best_fields` is the
//! best target's score plus `tie_breaker` times the others', `most_fields`
//! their sum, `cross_fields` takes each term from whichever target scores
//! it best, `phrase` and `phrase_prefix` match the terms in order (within
//! `slop`), the last one as a prefix.

use std::sync::Arc;

use tantivy::query::{
    AllQuery, Bm25StatisticsProvider, BooleanQuery, BoostQuery, DisjunctionMaxQuery, EmptyQuery,
    EnableScoring, Explanation, FuzzyTermQuery, Occur, PhrasePrefixQuery, PhraseQuery, Query,
    Scorer, Weight,
};
use tantivy::schema::Field;
use tantivy::{DocId, Score, SegmentReader, Term};

use super::bm25::LuceneTermQuery;
use crate::analysis;
use crate::catalog::TableInfo;
use crate::error::{Error, Result};
use crate::expr::search::{MatchTarget, TargetKind, minimum_should_match};
use crate::expr::{EvalCtx, MatchPredicate, MatchType};
use crate::storage::document::shard_schema;
use crate::storage::fulltext::{FulltextFields, fields};
use crate::storage::segment::Segment;
use crate::types::Value;

/// Lucene's BM25 is tantivy's divided by this (`k1 + 1`, which Lucene
/// dropped in version 8).
const TANTIVY_TO_LUCENE: f32 = 2.2;

/// What MATCH queries on one shard snapshot are built from.
pub struct SearchCtx {
    segments: Vec<Arc<Segment>>,
    fields: Arc<FulltextFields>,
    table_analyzers: std::collections::BTreeMap<String, analysis::AnalyzerDef>,
}

impl SearchCtx {
    /// The context over `segments` of `table`.
    pub fn new(table: &TableInfo, segments: Vec<Arc<Segment>>) -> Result<SearchCtx> {
        Ok(SearchCtx {
            segments,
            fields: fields(table)?,
            table_analyzers: table.analyzers.clone(),
        })
    }

    /// The segment whose schema has the most fields: queries are typed
    /// against it (older segments' fields are a prefix of it).
    pub fn widest(&self) -> Option<&Arc<Segment>> {
        self.segments
            .iter()
            .max_by_key(|s| s.index.schema().num_fields())
    }

    /// Builds the query of `m`.
    pub fn match_query(&self, m: &MatchPredicate, ctx: &EvalCtx) -> Result<Box<dyn Query>> {
        let text = match m.query.eval(&[], ctx)? {
            Value::Text(t) => t,
            Value::Null => String::new(),
            other => crate::types::json::to_json(&other).to_string(),
        };
        let mut analyzers = self.table_analyzers.clone();
        analyzers.extend(m.analyzers.clone());
        let query_analyzer = match &m.options.analyzer {
            Some(name) => Some(analysis::build(name, &analyzers)?),
            None => None,
        };
        let mut targets = Vec::with_capacity(m.targets.len());
        for t in &m.targets {
            targets.push(self.target(t, &text, query_analyzer.clone())?);
        }
        let opts = &m.options;
        let per_target: Vec<(Box<dyn Query>, f32)> = match m.match_type {
            MatchType::CrossFields => cross_fields(&targets, m)
                .map(|q| vec![(q, 1.0)])
                .unwrap_or_default(),
            _ => targets
                .iter()
                .filter_map(|t| target_query(t, m).map(|q| (q, t.boost)))
                .collect(),
        };
        if per_target.is_empty() {
            return Ok(if opts.zero_terms_all {
                Box::new(AllQuery)
            } else {
                Box::new(EmptyQuery)
            });
        }
        let mut boosted: Vec<Box<dyn Query>> =
            per_target.into_iter().map(|(q, b)| boost(q, b)).collect();
        let query: Box<dyn Query> = if boosted.len() == 1 {
            boosted.remove(0)
        } else if m.match_type == MatchType::MostFields {
            Box::new(BooleanQuery::new(
                boosted.into_iter().map(|q| (Occur::Should, q)).collect(),
            ))
        } else {
            Box::new(DisjunctionMaxQuery::with_tie_breaker(
                boosted,
                opts.tie_breaker,
            ))
        };
        Ok(boost(query, opts.boost))
    }

    fn target(
        &self,
        t: &MatchTarget,
        text: &str,
        query_analyzer: Option<tantivy::tokenizer::TextAnalyzer>,
    ) -> Result<Target> {
        match &t.kind {
            TargetKind::Index(name) => {
                let index = self
                    .fields
                    .index(name)
                    .ok_or_else(|| Error::ColumnUnknown(name.clone()))?;
                let mut analyzer = match query_analyzer {
                    Some(a) => a,
                    None => self
                        .fields
                        .analyzer(name)
                        .ok_or_else(|| Error::internal("index without analyzer"))?,
                };
                let tokens = analysis::analyze_with_positions(&mut analyzer, text);
                let field = index.field;
                let stats = self.stats(field, FieldKind::Text);
                Ok(Target {
                    terms: tokens
                        .into_iter()
                        .map(|(pos, t)| (pos, Term::from_field_text(field, &t)))
                        .collect(),
                    positions: true,
                    boost: t.boost,
                    stats,
                })
            }
            TargetKind::Column { column, path } => {
                let mut json_path = column.clone();
                for p in path {
                    json_path.push('.');
                    json_path.push_str(p);
                }
                let doc = shard_schema().doc;
                let mut term = Term::from_field_json_path(doc, &json_path, false);
                term.append_type_and_str(text);
                let stats = self.stats(doc, FieldKind::Column(json_path));
                Ok(Target {
                    terms: vec![(0, term)],
                    positions: false,
                    boost: t.boost,
                    stats,
                })
            }
        }
    }

    fn stats(&self, field: Field, kind: FieldKind) -> Arc<FieldStats> {
        let mut doc_count = 0;
        let mut tokens = 0;
        for s in &self.segments {
            if !has_field(&s.reader, field) {
                continue;
            }
            match &kind {
                FieldKind::Text => {
                    let name = s.index.schema().get_field_name(field).to_string();
                    doc_count += s.doc_count(&name, |r| {
                        r.get_fieldnorms_reader(field)
                            .map(|norms| {
                                (0..r.max_doc())
                                    .filter(|d| norms.fieldnorm_id(*d) != 0)
                                    .count() as u64
                            })
                            .unwrap_or(0)
                    });
                    tokens += s
                        .reader
                        .inverted_index(field)
                        .map(|i| i.total_num_tokens())
                        .unwrap_or(0);
                }
                FieldKind::Column(path) => {
                    let n = s.doc_count(&format!("doc.{path}"), |r| {
                        let path = format!("doc.{path}");
                        match r.fast_fields().str(&path) {
                            Ok(Some(col)) => (0..r.max_doc())
                                .filter(|d| col.ords().first(*d).is_some())
                                .count() as u64,
                            _ => 0,
                        }
                    });
                    // A keyword is one token long: the average length is 1.
                    doc_count += n;
                    tokens += n;
                }
            }
        }
        Arc::new(FieldStats {
            segments: self.segments.clone(),
            field,
            doc_count,
            tokens,
        })
    }
}

enum FieldKind {
    Text,
    Column(String),
}

/// One target with its analyzed query terms.
struct Target {
    terms: Vec<(usize, Term)>,
    positions: bool,
    boost: f32,
    stats: Arc<FieldStats>,
}

fn boost(q: Box<dyn Query>, b: f32) -> Box<dyn Query> {
    if b == 1.0 {
        q
    } else {
        Box::new(BoostQuery::new(q, b))
    }
}

/// The query of one term on a target: exact or fuzzy.
fn term_query(term: &Term, m: &MatchPredicate, t: &Target) -> Box<dyn Query> {
    if let Some(f) = m.options.fuzziness {
        let value = term.value();
        let d = f.distance(value.as_str().unwrap_or_default());
        if d > 0 {
            return Box::new(FuzzyTermQuery::new(term.clone(), d, true));
        }
    }
    Box::new(LuceneTermQuery::new(
        term.clone(),
        t.positions,
        t.stats.clone(),
    ))
}

/// Combines term queries by the operator and `minimum_should_match`.
fn combine(mut queries: Vec<Box<dyn Query>>, m: &MatchPredicate) -> Box<dyn Query> {
    if queries.len() == 1 {
        return queries.remove(0);
    }
    if m.options.and {
        return Box::new(BooleanQuery::new(
            queries.into_iter().map(|q| (Occur::Must, q)).collect(),
        ));
    }
    let n = queries.len();
    let required = m
        .options
        .minimum_should_match
        .as_deref()
        .and_then(|s| minimum_should_match(s, n))
        .unwrap_or(1);
    Box::new(BooleanQuery::with_minimum_required_clauses(
        queries.into_iter().map(|q| (Occur::Should, q)).collect(),
        required,
    ))
}

/// The query of one target under `m`'s type (not cross_fields).
fn target_query(t: &Target, m: &MatchPredicate) -> Option<Box<dyn Query>> {
    if t.terms.is_empty() {
        return None;
    }
    let inner: Box<dyn Query> = match m.match_type {
        MatchType::Phrase if t.terms.len() > 1 && t.positions => boost(
            Box::new(PhraseQuery::new_with_offset_and_slop(
                t.terms.clone(),
                m.options.slop,
            )),
            1.0 / TANTIVY_TO_LUCENE,
        ),
        MatchType::PhrasePrefix if t.positions => {
            let mut q = PhrasePrefixQuery::new_with_offset(t.terms.clone());
            q.set_max_expansions(m.options.max_expansions);
            boost(Box::new(q), 1.0 / TANTIVY_TO_LUCENE)
        }
        _ => combine(
            t.terms
                .iter()
                .map(|(_, term)| term_query(term, m, t))
                .collect(),
            m,
        ),
    };
    Some(Box::new(FieldQuery {
        inner,
        stats: t.stats.clone(),
    }))
}

/// cross_fields: each term scored on whichever target scores it best,
/// the terms combined by the operator.
fn cross_fields(targets: &[Target], m: &MatchPredicate) -> Option<Box<dyn Query>> {
    let longest = targets.iter().map(|t| t.terms.len()).max().unwrap_or(0);
    let mut per_term = Vec::with_capacity(longest);
    for i in 0..longest {
        let mut alternatives: Vec<Box<dyn Query>> = Vec::new();
        for t in targets {
            if let Some((_, term)) = t.terms.get(i) {
                let q = Box::new(FieldQuery {
                    inner: term_query(term, m, t),
                    stats: t.stats.clone(),
                });
                alternatives.push(boost(q, t.boost));
            }
        }
        per_term.push(match alternatives.len() {
            1 => alternatives.remove(0),
            _ => Box::new(DisjunctionMaxQuery::with_tie_breaker(
                alternatives,
                m.options.tie_breaker,
            )) as Box<dyn Query>,
        });
    }
    if per_term.is_empty() {
        return None;
    }
    Some(combine(per_term, m))
}

/// Whether a segment's schema has `field` (indexes added later are not).
fn has_field(reader: &SegmentReader, field: Field) -> bool {
    (field.field_id() as usize) < reader.schema().num_fields()
}

/// Lucene's statistics of one field over a shard's segments.
#[derive(Debug)]
pub struct FieldStats {
    segments: Vec<Arc<Segment>>,
    field: Field,
    doc_count: u64,
    tokens: u64,
}

impl Bm25StatisticsProvider for FieldStats {
    fn total_num_tokens(&self, _field: Field) -> tantivy::Result<u64> {
        Ok(self.tokens)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.doc_count)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let mut n = 0;
        for s in &self.segments {
            if has_field(&s.reader, self.field) {
                n += u64::from(s.reader.inverted_index(self.field)?.doc_freq(term)?);
            }
        }
        Ok(n)
    }
}

/// A query on one field: scored with the shard's statistics of that field,
/// and matching nothing in segments built before the field existed.
#[derive(Debug)]
struct FieldQuery {
    inner: Box<dyn Query>,
    stats: Arc<FieldStats>,
}

impl Clone for FieldQuery {
    fn clone(&self) -> Self {
        FieldQuery {
            inner: self.inner.box_clone(),
            stats: self.stats.clone(),
        }
    }
}

impl Query for FieldQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let inner = match scoring {
            EnableScoring::Enabled { searcher, .. } => {
                self.inner
                    .weight(EnableScoring::enabled_from_statistics_provider(
                        self.stats.as_ref(),
                        searcher,
                    ))?
            }
            disabled => self.inner.weight(disabled)?,
        };
        Ok(Box::new(FieldWeight {
            inner,
            field: self.stats.field,
        }))
    }
}

struct FieldWeight {
    inner: Box<dyn Weight>,
    field: Field,
}

impl Weight for FieldWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        if !has_field(reader, self.field) {
            return Ok(Box::new(tantivy::query::EmptyScorer));
        }
        self.inner.scorer(reader, boost)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        if !has_field(reader, self.field) {
            return Err(tantivy::TantivyError::InvalidArgument(
                "no such field in this segment".into(),
            ));
        }
        self.inner.explain(reader, doc)
    }

    fn count(&self, reader: &SegmentReader) -> tantivy::Result<u32> {
        if !has_field(reader, self.field) {
            return Ok(0);
        }
        self.inner.count(reader)
    }

    fn for_each_pruning(
        &self,
        threshold: Score,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score) -> Score,
    ) -> tantivy::Result<()> {
        if !has_field(reader, self.field) {
            return Ok(());
        }
        self.inner.for_each_pruning(threshold, reader, callback)
    }
}
