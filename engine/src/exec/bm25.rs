//! Lucene's BM25, to the bit: a term query whose scores are the ones
//! CrateDB prints.
//!
//! Tantivy's BM25 is Lucene's times `k1 + 1` (Lucene dropped that constant
//! in version 8) and rounds differently, so its scores differ from
//! CrateDB's in the last digits. [`LuceneTermQuery`] reads the postings and
//! field lengths tantivy wrote (tantivy encodes lengths with Lucene's byte
//! table) and computes Lucene's `BM25Scorer` in the same single-precision
//! steps: `weight - weight / (1 + freq * normInverse)`, with
//! `weight = boost * idf` and `normInverse` cached per encoded length. When
//! nothing asks for scores it is tantivy's own term query.

use std::sync::Arc;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::{
    Bm25StatisticsProvider, EmptyScorer, EnableScoring, Explanation, Query, Scorer, TermQuery,
    Weight,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, DocSet, Score, SegmentReader, Term};

const K1: f32 = 1.2;
const B: f32 = 0.75;

/// The length an encoded field length stands for: Lucene's
/// `SmallFloat.byte4ToInt`, whose table tantivy's encoding shares (24 free
/// values, then 4 significant bits: exact up to 40).
fn length_of(norm: u8) -> f32 {
    const FREE: u32 = 24;
    let b = u32::from(norm);
    if b < FREE {
        return b as f32;
    }
    let i = b - FREE;
    let bits = i & 0x07;
    let shift = (i >> 3) as i32 - 1;
    let decoded = if shift == -1 {
        u64::from(bits)
    } else {
        u64::from(bits | 0x08) << shift
    };
    (u64::from(FREE) + decoded) as f32
}

/// A term query scored as Lucene's BM25 with the given statistics.
#[derive(Clone)]
pub struct LuceneTermQuery {
    term: Term,
    /// Whether the field records frequencies and lengths (a full-text
    /// field) or not (the plain index: every match has frequency 1, length 1).
    freqs: bool,
    stats: Arc<dyn Bm25StatisticsProvider + Send + Sync>,
}

impl std::fmt::Debug for LuceneTermQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LuceneTermQuery")
            .field("term", &self.term)
            .finish()
    }
}

impl LuceneTermQuery {
    pub fn new(
        term: Term,
        freqs: bool,
        stats: Arc<dyn Bm25StatisticsProvider + Send + Sync>,
    ) -> LuceneTermQuery {
        LuceneTermQuery { term, freqs, stats }
    }
}

impl Query for LuceneTermQuery {
    fn weight(&self, scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let record = if self.freqs {
            IndexRecordOption::WithFreqs
        } else {
            IndexRecordOption::Basic
        };
        if !scoring.is_scoring_enabled() {
            return TermQuery::new(self.term.clone(), record).weight(scoring);
        }
        let doc_count = self.stats.total_num_docs()?;
        let doc_freq = self.stats.doc_freq(&self.term)?;
        let tokens = self.stats.total_num_tokens(self.term.field())?;
        let idf = (1.0 + (doc_count as f64 - doc_freq as f64 + 0.5) / (doc_freq as f64 + 0.5)).ln()
            as f32;
        let avgdl = if doc_count == 0 {
            1.0
        } else {
            (tokens as f64 / doc_count as f64) as f32
        };
        let mut cache = [0f32; 256];
        for (i, c) in cache.iter_mut().enumerate() {
            *c = 1.0 / (K1 * ((1.0 - B) + B * length_of(i as u8) / avgdl));
        }
        Ok(Box::new(LuceneTermWeight {
            term: self.term.clone(),
            record,
            idf,
            cache: Arc::new(cache),
        }))
    }
}

struct LuceneTermWeight {
    term: Term,
    record: IndexRecordOption,
    idf: f32,
    cache: Arc<[f32; 256]>,
}

impl Weight for LuceneTermWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let field = self.term.field();
        let Some(postings) = reader
            .inverted_index(field)?
            .read_postings(&self.term, self.record)?
        else {
            return Ok(Box::new(EmptyScorer));
        };
        let norms = match reader.fieldnorms_readers().get_field(field)? {
            Some(n) => n,
            // A field without lengths reads as length 1 (Lucene's missing norm).
            None => FieldNormReader::constant(reader.max_doc(), 1),
        };
        Ok(Box::new(LuceneTermScorer {
            postings,
            norms,
            weight: boost * self.idf,
            cache: self.cache.clone(),
            freqs: self.record.has_freq(),
        }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!(
                "document {doc} does not match"
            )));
        }
        Ok(Explanation::new("BM25 (Lucene)", scorer.score()))
    }
}

struct LuceneTermScorer {
    postings: SegmentPostings,
    norms: FieldNormReader,
    weight: f32,
    cache: Arc<[f32; 256]>,
    freqs: bool,
}

impl DocSet for LuceneTermScorer {
    fn advance(&mut self) -> DocId {
        self.postings.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.postings.seek(target)
    }

    fn doc(&self) -> DocId {
        self.postings.doc()
    }

    fn size_hint(&self) -> u32 {
        self.postings.size_hint()
    }
}

impl Scorer for LuceneTermScorer {
    fn score(&mut self) -> Score {
        let doc = self.postings.doc();
        let freq = if self.freqs {
            self.postings.term_freq() as f32
        } else {
            1.0
        };
        let norm_inverse = self.cache[self.norms.fieldnorm_id(doc) as usize];
        self.weight - self.weight / (1.0 + freq * norm_inverse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CrateDB's documentation prints these two scores for
    /// `match(name_description_ft, 'time')` over its `locations` fixture;
    /// the statistics are those of the two shards the rows fall in.
    #[test]
    fn scores_as_lucene_prints_them() {
        let score = |docs: u64, tokens: u64, df: u64, len: u32| {
            let idf = (1.0 + (docs as f64 - df as f64 + 0.5) / (df as f64 + 0.5)).ln() as f32;
            let avgdl = (tokens as f64 / docs as f64) as f32;
            let norm = (0..=255u8)
                .rev()
                .find(|n| length_of(*n) <= len as f32)
                .unwrap_or(0);
            let inv = 1.0 / (K1 * ((1.0 - B) + B * length_of(norm) / avgdl));
            idf - idf / (1.0 + inv)
        };
        assert_eq!(score(5, 80, 1, 16).to_string(), "0.63013375");
        assert_eq!(score(8, 115, 1, 17).to_string(), "0.75782394");
    }

    #[test]
    fn lengths_decode_as_lucene_encodes_them() {
        assert_eq!(length_of(39), 39.0);
        assert_eq!(length_of(40), 40.0);
        assert_eq!(length_of(41), 42.0);
        assert_eq!(length_of(48), 56.0);
        assert_eq!(length_of(49), 60.0);
        assert_eq!(length_of(255), 2_013_265_944.0);
    }
}
