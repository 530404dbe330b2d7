//! Immutable segments: one tantivy single-segment index each.
//!
//! A refresh turns the indexing buffer into a new segment, built
//! synchronously with tantivy's `SingleSegmentIndexWriter` in a `RamDirectory`
//! (no threads, deterministic under simulation). Deletes never touch a
//! segment: liveness is an [`AliveSet`] kept beside it. Merges combine
//! segments with `merge_filtered_segments`, dropping dead documents.
//! Persisting a segment copies its files to the node's [`Disk`](crate::disk::Disk).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use tantivy::HasLen;
use tantivy::directory::{Directory, OwnedBytes, RamDirectory};
use tantivy::indexer::merge_filtered_segments;
use tantivy::{Index, IndexSettings, SegmentReader};

use super::document::{BufferedDoc, MetaColumn, StoredDoc};
use super::fulltext::FulltextFields;
use super::source::parse_source;
use crate::error::{Error, Result};

/// Which documents of a segment are alive.
#[derive(Debug, Clone, PartialEq)]
pub struct AliveSet {
    words: Vec<u64>,
    len: u32,
    alive: u32,
}

impl AliveSet {
    /// All `len` documents alive.
    pub fn all(len: u32) -> AliveSet {
        let mut words = vec![u64::MAX; (len as usize).div_ceil(64)];
        if !len.is_multiple_of(64)
            && let Some(last) = words.last_mut()
        {
            *last = (1u64 << (len % 64)) - 1;
        }
        AliveSet {
            words,
            len,
            alive: len,
        }
    }

    /// Whether `doc` is alive.
    #[inline]
    pub fn is_alive(&self, doc: u32) -> bool {
        self.words
            .get((doc / 64) as usize)
            .is_some_and(|w| w & (1 << (doc % 64)) != 0)
    }

    /// Marks `doc` dead; returns whether it was alive.
    pub fn kill(&mut self, doc: u32) -> bool {
        let Some(w) = self.words.get_mut((doc / 64) as usize) else {
            return false;
        };
        let bit = 1u64 << (doc % 64);
        if *w & bit == 0 {
            return false;
        }
        *w &= !bit;
        self.alive -= 1;
        true
    }

    /// Number of live documents.
    pub fn num_alive(&self) -> u32 {
        self.alive
    }

    /// Number of documents, dead or alive.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the set covers no documents.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether every document is alive.
    pub fn all_alive(&self) -> bool {
        self.alive == self.len
    }

    /// Iterates live documents in order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let t = w.trailing_zeros();
                w &= w - 1;
                Some(i as u32 * 64 + t)
            })
        })
    }

    /// Serialises the set (for persisting deletes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + self.words.len() * 8);
        out.extend_from_slice(&self.len.to_le_bytes());
        for w in &self.words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Reads a serialised set.
    pub fn from_bytes(bytes: &[u8]) -> Result<AliveSet> {
        let corrupt = || Error::Io("corrupt alive set".into());
        let len = u32::from_le_bytes(
            bytes
                .get(..4)
                .ok_or_else(corrupt)?
                .try_into()
                .map_err(|_| corrupt())?,
        );
        let words: Vec<u64> = bytes[4..]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        if words.len() != (len as usize).div_ceil(64) {
            return Err(corrupt());
        }
        let alive = words.iter().map(|w| w.count_ones()).sum();
        Ok(AliveSet { words, len, alive })
    }
}

/// An immutable segment.
pub struct Segment {
    /// Shard-local id, stable for the segment's life.
    pub id: u32,
    pub index: Index,
    pub reader: SegmentReader,
    /// The index's directory, unwrapped: reading a file through `index`
    /// strips its footer, and persisting needs the file as written.
    dir: RamDirectory,
    /// A searcher over the segment, made on the first scored search
    /// (tantivy's scoring wants one).
    searcher: OnceLock<tantivy::Searcher>,
    /// Documents having a value in a field, by field name (Lucene's
    /// `docCount`, which BM25 divides by), counted on first use.
    doc_counts: Mutex<BTreeMap<String, u64>>,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("id", &self.id)
            .field("max_doc", &self.max_doc())
            .finish()
    }
}

fn settings() -> IndexSettings {
    IndexSettings {
        // A build compresses its document store on a thread of its own: on
        // a busy node the builder is the bottleneck of a bulk load, and the
        // writers leave spare CPU while they wait for translog syncs. The
        // simulator runs everything on one thread.
        docstore_compress_dedicated_thread: cfg!(not(madsim)),
        ..IndexSettings::default()
    }
}

impl Segment {
    /// Builds a segment from documents, in order (document `i` gets doc id `i`).
    pub fn build<D: tantivy::Document>(
        id: u32,
        fields: &FulltextFields,
        docs: impl IntoIterator<Item = D>,
    ) -> Result<Segment> {
        let dir = RamDirectory::create();
        let mut writer = Index::builder()
            .schema(fields.schema.clone())
            .settings(settings())
            .tokenizers(fields.tokenizers().clone())
            .single_segment_index_writer(dir.clone(), 50_000_000)?;
        for d in docs {
            writer.add_document(d)?;
        }
        let index = writer.finalize()?;
        Segment::from_index(id, index, dir)
    }

    /// Wraps a single-segment index kept in `dir`.
    fn from_index(id: u32, index: Index, dir: RamDirectory) -> Result<Segment> {
        let segments = index.searchable_segments()?;
        let seg = segments
            .first()
            .ok_or_else(|| Error::internal("index without segment"))?;
        let reader = SegmentReader::open(seg)?;
        Ok(Segment {
            id,
            index,
            reader,
            dir,
            searcher: OnceLock::new(),
            doc_counts: Mutex::new(BTreeMap::new()),
        })
    }

    /// Number of documents (dead or alive).
    pub fn max_doc(&self) -> u32 {
        self.reader.max_doc()
    }

    /// Merges segments into one, keeping only live documents, in segment order.
    pub fn merge(id: u32, parts: &[(&Segment, &AliveSet)]) -> Result<Segment> {
        let segments: Vec<tantivy::Segment> = parts
            .iter()
            .map(|(s, _)| s.index.searchable_segments().map(|mut v| v.remove(0)))
            .collect::<tantivy::Result<_>>()?;
        let filters = parts
            .iter()
            .map(|(_, alive)| {
                if alive.all_alive() {
                    None
                } else {
                    let mut bits = tantivy::BitSet::with_max_value(alive.len());
                    for d in alive.iter() {
                        bits.insert(d);
                    }
                    let mut bytes = Vec::new();
                    // Writing to a Vec cannot fail.
                    let _ = tantivy::fastfield::write_alive_bitset(&bits, &mut bytes);
                    Some(tantivy::fastfield::AliveBitSet::open(
                        tantivy::directory::OwnedBytes::new(bytes),
                    ))
                }
            })
            .collect();
        let dir = RamDirectory::create();
        let index = merge_filtered_segments(&segments, settings(), filters, dir.clone())?;
        Segment::from_index(id, index, dir)
    }

    /// The names of the segment's files (`meta.json` and its components).
    pub fn file_names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = vec!["meta.json".to_string()];
        for f in self.index.load_metas()?.list_segment_files() {
            // Components a segment does not have (e.g. no deletes) are listed
            // but absent.
            if self.dir.exists(&f).unwrap_or(false) {
                names.push(f.to_string_lossy().to_string());
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The segment's files and their bytes, for persisting it. The bytes are
    /// shared with the in-memory directory, not copied: a flush writes
    /// hundreds of megabytes of segments during a bulk load.
    pub fn files(&self) -> Result<Vec<(String, OwnedBytes)>> {
        let names = self.file_names()?;
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            match self.dir.open_read(Path::new(&n)) {
                Ok(slice) => {
                    let bytes = slice
                        .read_bytes()
                        .map_err(|e| Error::Io(format!("reading segment file {n}: {e}")))?;
                    out.push((n, bytes));
                }
                Err(e) => return Err(Error::Io(format!("reading segment file {n}: {e}"))),
            }
        }
        Ok(out)
    }

    /// The names and lengths of the segment's files.
    pub fn file_lengths(&self) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for name in self.file_names()? {
            let len = self
                .dir
                .open_read(Path::new(&name))
                .map_err(|e| Error::Io(format!("reading segment file {name}: {e}")))?
                .len();
            out.push((name, len as u64));
        }
        Ok(out)
    }

    /// Up to `max` bytes of one of the segment's files, from `offset`.
    pub fn read_file_range(&self, name: &str, offset: u64, max: usize) -> Result<Vec<u8>> {
        let file = self
            .dir
            .open_read(Path::new(name))
            .map_err(|e| Error::Io(format!("reading segment file {name}: {e}")))?;
        let start = (offset as usize).min(file.len());
        let end = start.saturating_add(max).min(file.len());
        let bytes = file
            .read_bytes_slice(start..end)
            .map_err(|e| Error::Io(format!("reading segment file {name}: {e}")))?;
        Ok(bytes.as_slice().to_vec())
    }

    /// Re-opens a persisted segment from its files.
    pub fn load(id: u32, files: Vec<(String, Vec<u8>)>) -> Result<Segment> {
        let dir = RamDirectory::create();
        for (name, bytes) in files {
            dir.atomic_write(Path::new(&name), &bytes)?;
        }
        let index = Index::open(dir.clone())?;
        Segment::from_index(id, index, dir)
    }

    /// Bytes the segment takes.
    pub fn size_bytes(&self) -> u64 {
        self.reader
            .space_usage()
            .map(|u| u.total().get_bytes())
            .unwrap_or(0)
    }

    /// The `(id_hash, seq_no)` of one document: which version of which row it is.
    pub fn entry(&self, doc: u32) -> Option<(u64, u64)> {
        let ff = self.reader.fast_fields();
        let hash = ff.u64("_idh").ok()?.first(doc)?;
        let seq_no = ff.u64("_seq_no").ok()?.first(doc)?;
        Some((hash, seq_no))
    }

    /// Calls `f(doc, id_hash, seq_no)` for every document of the segment.
    pub fn for_each_entry(&self, mut f: impl FnMut(u32, u64, u64)) -> Result<()> {
        let ff = self.reader.fast_fields();
        let hashes = ff.u64("_idh")?;
        let seqs = ff.u64("_seq_no")?;
        for doc in 0..self.max_doc() {
            f(
                doc,
                hashes.first(doc).unwrap_or(0),
                seqs.first(doc).unwrap_or(0),
            );
        }
        Ok(())
    }

    /// A searcher over this segment alone.
    pub fn searcher(&self) -> Result<&tantivy::Searcher> {
        if let Some(s) = self.searcher.get() {
            return Ok(s);
        }
        let reader: tantivy::IndexReader = self
            .index
            .reader_builder()
            .reload_policy(tantivy::ReloadPolicy::Manual)
            .try_into()?;
        Ok(self.searcher.get_or_init(|| reader.searcher()))
    }

    /// How many documents have a value in `field` (`count` counts them the
    /// first time).
    pub fn doc_count(&self, field: &str, count: impl FnOnce(&SegmentReader) -> u64) -> u64 {
        let mut counts = self.doc_counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get(field) {
            return *n;
        }
        let n = count(&self.reader);
        counts.insert(field.to_string(), n);
        n
    }

    /// Reads one document from the store and the metadata columns: `f`
    /// gets its `_id`, `_seq_no`, `_version`, `_primary_term` and `_source` bytes.
    fn read_doc<R>(
        &self,
        doc: u32,
        f: impl FnOnce(String, u64, u64, u64, &[u8]) -> R,
    ) -> Result<R> {
        let store = self.reader.get_store_reader(1)?;
        let stored: tantivy::TantivyDocument = store.get(doc)?;
        let schema = super::document::shard_schema();
        let meta = |c: tantivy::Result<MetaColumn>| c.ok().and_then(|c| c.get(doc)).unwrap_or(0);
        Ok(f(
            schema.stored_id(&stored).unwrap_or_default(),
            meta(MetaColumn::seq_no(&self.reader)),
            meta(MetaColumn::version(&self.reader)),
            meta(MetaColumn::primary_term(&self.reader)),
            schema.stored_source(&stored),
        ))
    }

    /// One document, as gets return it.
    pub fn stored_doc(&self, doc: u32) -> Result<StoredDoc> {
        self.read_doc(doc, |id, seq_no, version, primary_term, source| StoredDoc {
            id,
            seq_no,
            version,
            primary_term,
            source: Arc::new(parse_source(source)),
        })
    }

    /// One document as the indexing buffer held it (to index it again).
    pub fn buffered_doc(&self, doc: u32) -> Result<BufferedDoc> {
        self.read_doc(doc, |id, seq_no, version, primary_term, source| {
            BufferedDoc::new(
                id,
                seq_no,
                version,
                primary_term,
                parse_source(source),
                source.into(),
            )
        })
    }

    /// The `_id` of one document (from the document store).
    pub fn id_of(&self, doc: u32) -> Option<String> {
        let store = self.reader.get_store_reader(1).ok()?;
        let stored: tantivy::TantivyDocument = store.get(doc).ok()?;
        super::document::shard_schema().stored_id(&stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::TableInfo;
    use crate::storage::document::shard_schema;
    use crate::storage::document::{BufferedDoc, RowDoc};
    use crate::storage::source::source_bytes;
    use crate::types::{Object, Value};
    use std::sync::Arc;

    fn build(id: u32, ids: std::ops::Range<i64>) -> Segment {
        let table = Arc::new(TableInfo::for_tests(&["id"], 1));
        let docs: Vec<BufferedDoc> = ids
            .map(|i| {
                let mut row = Object::default();
                row.insert("id".into(), Value::Int(i));
                row.insert("note".into(), Value::Text(format!("row number {i}")));
                let bytes: Arc<[u8]> = source_bytes(&row).into();
                BufferedDoc::new(i.to_string(), i as u64, 1, 1, row, bytes)
            })
            .collect();
        let docs = Arc::new(docs);
        let docs = (0..docs.len())
            .map(|i| RowDoc::new(shard_schema(), table.clone(), None, docs.clone(), i));
        let fields = crate::storage::fulltext::fields(&table).unwrap();
        Segment::build(id, &fields, docs).unwrap()
    }

    fn ids(s: &Segment) -> Vec<String> {
        (0..s.max_doc()).filter_map(|d| s.id_of(d)).collect()
    }

    #[test]
    fn merges_keep_live_documents_in_segment_order() {
        let (a, b) = (build(1, 0..3000), build(2, 3000..3100));
        let mut alive_b = AliveSet::all(b.max_doc());
        alive_b.kill(0);
        let m = Segment::merge(3, &[(&a, &AliveSet::all(a.max_doc())), (&b, &alive_b)]).unwrap();
        let c = build(4, 5000..5010);
        let all = Segment::merge(
            5,
            &[
                (&m, &AliveSet::all(m.max_doc())),
                (&c, &AliveSet::all(c.max_doc())),
            ],
        )
        .unwrap();
        let expected: Vec<String> = (0..3000)
            .chain(3001..3100)
            .chain(5000..5010)
            .map(|i| i.to_string())
            .collect();
        assert_eq!(ids(&all), expected);
    }

    #[test]
    fn alive_sets_track_deletes_and_round_trip() {
        let mut a = AliveSet::all(130);
        assert_eq!(a.num_alive(), 130);
        assert!(a.kill(0));
        assert!(a.kill(129));
        assert!(!a.kill(129));
        assert!(!a.kill(500));
        assert_eq!(a.num_alive(), 128);
        assert!(!a.is_alive(129));
        assert!(a.is_alive(64));
        assert_eq!(a.iter().count(), 128);
        assert_eq!(AliveSet::from_bytes(&a.to_bytes()).unwrap(), a);
    }
}
