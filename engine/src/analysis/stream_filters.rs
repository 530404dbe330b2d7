//! The token filters that look across tokens or multiply them: n-grams of
//! tokens, shingles, fingerprint, unique, limit. Each reproduces its Lucene
//! filter's output order and positions, since phrase queries and BM25
//! statistics see both.

use std::collections::HashSet;

use tantivy::tokenizer::Token;

use super::chars::utf16_len;
use super::tokens::remove_closing_gaps;

#[derive(Clone, Debug)]
pub(crate) struct Ngrams {
    pub min: usize,
    pub max: usize,
    pub edge: bool,
    /// Edge n-grams from the end of the token (the old `side = back`).
    pub back: bool,
    pub preserve_original: bool,
}

/// Lucene's `NGramTokenFilter` / `EdgeNGramTokenFilter`: every gram of a
/// token at the token's position (by start, then size); a token without
/// grams disappears but keeps its position increment.
pub(crate) fn ngrams(tokens: &mut Vec<Token>, cfg: &Ngrams) {
    let mut out = Vec::with_capacity(tokens.len() * 2);
    for t in tokens.drain(..) {
        let bounds: Vec<usize> = t
            .text
            .char_indices()
            .map(|(i, _)| i)
            .chain([t.text.len()])
            .collect();
        let n = bounds.len() - 1;
        let mut emit = |from: usize, to: usize| {
            let mut g = t.clone();
            g.text = t.text[bounds[from]..bounds[to]].to_string();
            out.push(g);
        };
        if cfg.edge {
            for size in cfg.min..=cfg.max.min(n) {
                if cfg.back {
                    emit(n - size, n);
                } else {
                    emit(0, size);
                }
            }
        } else {
            for start in 0..n {
                for size in cfg.min..=cfg.max {
                    if start + size > n {
                        break;
                    }
                    emit(start, start + size);
                }
            }
        }
        if cfg.preserve_original && (n < cfg.min || n > cfg.max) {
            out.push(t);
        }
    }
    *tokens = out;
}

#[derive(Clone, Debug)]
pub(crate) struct Shingles {
    pub min: usize,
    pub max: usize,
    pub output_unigrams: bool,
    pub output_unigrams_if_no_shingles: bool,
    pub separator: String,
    pub filler: String,
}

/// Lucene's `ShingleFilter`: at each position the unigram, then the
/// shingles of `min..=max` tokens starting there. A position gap (a removed
/// stop word) is filled with the filler token, and shingles starting at a
/// filler are emitted too (`_ quick` for "the quick").
pub(crate) fn shingles(tokens: &mut Vec<Token>, cfg: &Shingles) {
    // Slots: real tokens and fillers for the gaps before them.
    let mut slots: Vec<(usize, Option<usize>)> = Vec::with_capacity(tokens.len());
    let mut next_position = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        for gap in next_position..t.position {
            slots.push((gap, None));
        }
        slots.push((t.position, Some(i)));
        next_position = next_position.max(t.position + 1);
    }
    let text = |slot: &(usize, Option<usize>)| match slot.1 {
        Some(i) => tokens[i].text.as_str(),
        None => cfg.filler.as_str(),
    };
    let mut out = Vec::new();
    let mut any_shingle = false;
    for (s, slot) in slots.iter().enumerate() {
        if let (true, Some(i)) = (cfg.output_unigrams, slot.1) {
            out.push(tokens[i].clone());
        }
        for size in cfg.min..=cfg.max {
            let Some(window) = slots.get(s..s + size) else {
                break;
            };
            if window.iter().all(|w| w.1.is_none()) {
                continue;
            }
            let joined = window
                .iter()
                .map(text)
                .collect::<Vec<_>>()
                .join(&cfg.separator);
            let first = window.iter().find_map(|w| w.1).map(|i| &tokens[i]);
            let last = window.iter().rev().find_map(|w| w.1).map(|i| &tokens[i]);
            out.push(Token {
                offset_from: first.map_or(0, |t| t.offset_from),
                offset_to: last.map_or(0, |t| t.offset_to),
                position: slot.0,
                text: joined,
                position_length: size,
            });
            any_shingle = true;
        }
    }
    if !any_shingle && !cfg.output_unigrams && cfg.output_unigrams_if_no_shingles {
        return;
    }
    *tokens = out;
}

/// Lucene's `FingerprintFilter`: the distinct tokens, sorted, joined into
/// one token — or none when that would exceed `max_output_size` chars.
pub(crate) fn fingerprint(tokens: &mut Vec<Token>, separator: &str, max_output_size: usize) {
    let mut seen = HashSet::new();
    let mut unique: Vec<&str> = Vec::new();
    let mut size = 0usize;
    for t in tokens.iter() {
        if seen.contains(t.text.as_str()) {
            continue;
        }
        if unique.len() >= max_output_size {
            tokens.clear();
            return;
        }
        seen.insert(t.text.as_str());
        unique.push(t.text.as_str());
        size += utf16_len(&t.text);
        if unique.len() > 1 {
            size += utf16_len(separator);
        }
        if size > max_output_size {
            tokens.clear();
            return;
        }
    }
    if unique.is_empty() {
        tokens.clear();
        return;
    }
    // Java sorts char arrays: UTF-16 order, not code point order.
    unique.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    let text = unique.join(separator);
    let (from, to) = (
        tokens.first().map_or(0, |t| t.offset_from),
        tokens.last().map_or(0, |t| t.offset_to),
    );
    *tokens = vec![Token {
        offset_from: from,
        offset_to: to,
        position: 0,
        text,
        position_length: 1,
    }];
}

/// Elasticsearch's `UniqueTokenFilter`: later duplicates dropped, their
/// position increments with them.
pub(crate) fn unique(tokens: &mut Vec<Token>, only_on_same_position: bool) {
    let mut seen: HashSet<String> = HashSet::new();
    let mut last_position = None;
    remove_closing_gaps(tokens, |t| {
        if only_on_same_position && last_position != Some(t.position) {
            seen.clear();
        }
        last_position = Some(t.position);
        seen.insert(t.text.clone())
    });
}

/// Lucene's `RemoveDuplicatesTokenFilter`: a token equal to one already at
/// its position goes.
pub(crate) fn remove_duplicates(tokens: &mut Vec<Token>) {
    let mut seen: HashSet<String> = HashSet::new();
    let mut last_position = None;
    tokens.retain(|t| {
        if last_position != Some(t.position) {
            seen.clear();
            last_position = Some(t.position);
        }
        seen.insert(t.text.clone())
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::tokens::token;

    fn toks(words: &[(usize, &str)]) -> Vec<Token> {
        words.iter().map(|&(p, w)| token(p, 0, 0, w)).collect()
    }

    fn out(tokens: &[Token]) -> Vec<(usize, &str)> {
        tokens
            .iter()
            .map(|t| (t.position, t.text.as_str()))
            .collect()
    }

    #[test]
    fn token_ngrams() {
        let cfg = Ngrams {
            min: 1,
            max: 2,
            edge: false,
            back: false,
            preserve_original: false,
        };
        let mut t = toks(&[(0, "abc"), (2, "d")]);
        ngrams(&mut t, &cfg);
        assert_eq!(
            out(&t),
            vec![(0, "a"), (0, "ab"), (0, "b"), (0, "bc"), (0, "c"), (2, "d")]
        );
        let cfg = Ngrams {
            min: 2,
            max: 3,
            edge: true,
            back: false,
            preserve_original: true,
        };
        let mut t = toks(&[(0, "quick"), (1, "a")]);
        ngrams(&mut t, &cfg);
        assert_eq!(out(&t), vec![(0, "qu"), (0, "qui"), (0, "quick"), (1, "a")]);
        let cfg = Ngrams {
            min: 1,
            max: 2,
            edge: true,
            back: true,
            preserve_original: false,
        };
        let mut t = toks(&[(0, "héé")]);
        ngrams(&mut t, &cfg);
        assert_eq!(out(&t), vec![(0, "é"), (0, "éé")]);
    }

    #[test]
    fn shingle_with_fillers() {
        let cfg = Shingles {
            min: 2,
            max: 2,
            output_unigrams: true,
            output_unigrams_if_no_shingles: false,
            separator: " ".into(),
            filler: "_".into(),
        };
        let mut t = toks(&[(1, "quick"), (2, "brown"), (4, "fox")]);
        shingles(&mut t, &cfg);
        assert_eq!(
            out(&t),
            vec![
                (0, "_ quick"),
                (1, "quick"),
                (1, "quick brown"),
                (2, "brown"),
                (2, "brown _"),
                (3, "_ fox"),
                (4, "fox")
            ]
        );
        assert_eq!(t[2].position_length, 2);
        let cfg = Shingles {
            output_unigrams: false,
            output_unigrams_if_no_shingles: true,
            ..cfg
        };
        let mut t = toks(&[(0, "alone")]);
        shingles(&mut t, &cfg);
        assert_eq!(out(&t), vec![(0, "alone")]);
    }

    #[test]
    fn fingerprint_sorts_and_dedupes() {
        let mut t = toks(&[(0, "zebra"), (1, "apple"), (2, "zebra"), (3, "mango")]);
        fingerprint(&mut t, " ", 255);
        assert_eq!(out(&t), vec![(0, "apple mango zebra")]);
        let mut t = toks(&[(0, "abc"), (1, "def")]);
        fingerprint(&mut t, "-", 6);
        assert!(t.is_empty());
    }

    #[test]
    fn unique_closes_gaps() {
        let mut t = toks(&[(0, "a"), (1, "b"), (2, "a"), (3, "c")]);
        unique(&mut t, false);
        assert_eq!(out(&t), vec![(0, "a"), (1, "b"), (2, "c")]);
        let mut t = toks(&[(0, "a"), (0, "a"), (1, "a")]);
        unique(&mut t, true);
        assert_eq!(out(&t), vec![(0, "a"), (1, "a")]);
        let mut t = toks(&[(0, "a"), (0, "a"), (1, "a")]);
        remove_duplicates(&mut t);
        assert_eq!(out(&t), vec![(0, "a"), (1, "a")]);
    }
}
