//! Token vectors: making tokens and dropping them as Lucene's filters do
//! (keeping or closing the position gaps they leave), shared by the
//! tokenizers and the token filters.

use tantivy::tokenizer::Token;

/// A token as a tokenizer emits it: the next position, its byte offsets.
pub(crate) fn token(position: usize, from: usize, to: usize, text: impl Into<String>) -> Token {
    Token {
        offset_from: from,
        offset_to: to,
        position,
        text: text.into(),
        position_length: 1,
    }
}

/// Drops the tokens `keep` rejects, as Lucene's `FilteringTokenFilter` does:
/// the positions of the others stay, so a removed token leaves a gap.
pub(crate) fn retain_keeping_gaps(tokens: &mut Vec<Token>, mut keep: impl FnMut(&Token) -> bool) {
    tokens.retain(|t| keep(t));
}

/// Drops the tokens `keep` rejects the way a plain Lucene `TokenFilter` that
/// skips tokens does: their position increments are lost, so the following
/// tokens move up to close the gap.
pub(crate) fn remove_closing_gaps(tokens: &mut Vec<Token>, mut keep: impl FnMut(&Token) -> bool) {
    let mut out = Vec::with_capacity(tokens.len());
    // Position of the last input token and of the last emitted one (+1 so
    // that "none yet" is 0, matching Lucene's starting position of -1).
    let mut last_in = 0usize;
    let mut last_out = 0usize;
    for mut t in tokens.drain(..) {
        let increment = (t.position + 1).saturating_sub(last_in);
        last_in = t.position + 1;
        if keep(&t) {
            last_out += increment;
            t.position = last_out.saturating_sub(1);
            out.push(t);
        }
    }
    *tokens = out;
}
