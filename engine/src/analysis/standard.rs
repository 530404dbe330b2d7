//! Lucene's `StandardTokenizer`: Unicode UAX#29 word boundaries.
//!
//! `unicode-segmentation` gives the UAX#29 segments; what Lucene's grammar
//! adds on top is done here: only segments with a letter or digit (or an
//! emoji) are tokens, runs of South-East-Asian letters (Thai, Lao, Myanmar,
//! Khmer, which UAX#29 leaves unsegmented) form one token, and a token longer
//! than `max_token_length` UTF-16 units is cut into pieces of that length.
//! The `uax_url_email` flavour first takes URLs and e-mail addresses out whole.
//!
//! Approximations: the Unicode version differs from Lucene's (Unicode 16 here),
//! and emoji are recognised by code point range (U+1F000–U+1FAFF, or followed
//! by the emoji presentation selector U+FE0F) rather than by Lucene's emoji
//! grammar. The URL grammar is simpler than Lucene's (scheme URLs and `www.`
//! hosts; bare domain names are left to UAX#29).

use std::sync::LazyLock;

use regex::Regex;
use tantivy::tokenizer::Token;
use unicode_segmentation::UnicodeSegmentation;

use super::chars::{utf16_len, utf16_prefix};
use super::tokens::token;

/// Lucene's default `max_token_length`.
pub(crate) const DEFAULT_MAX_TOKEN_LENGTH: usize = 255;
/// Lucene refuses a longer `max_token_length`.
pub(crate) const MAX_TOKEN_LENGTH_LIMIT: usize = 1024 * 1024;

static URL_OR_EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)(?:(?:https?|ftp|file)://|www\.)[^\s<>\x22'`{}|\\^\[\]]+[^\s<>\x22'`{}|\\^\[\].,;:!?)]",
        r"|[a-z0-9!#$%&*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&*+/=?^_`{|}~-]+)*@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+",
    ))
    .expect("static regex")
});

/// Tokenizes `text` as Lucene's `StandardTokenizer` would.
pub(crate) fn standard(text: &str, max_token_length: usize) -> Vec<Token> {
    let mut out = Vec::new();
    segment(text, 0, max_token_length, &mut out);
    out
}

/// Like [`standard`], but URLs and e-mail addresses are single tokens
/// (Lucene's `UAX29URLEmailTokenizer`).
pub(crate) fn uax_url_email(text: &str, max_token_length: usize) -> Vec<Token> {
    let mut out = Vec::new();
    let mut from = 0;
    for m in URL_OR_EMAIL.find_iter(text) {
        segment(&text[from..m.start()], from, max_token_length, &mut out);
        push_chunked(&mut out, m.as_str(), m.start(), max_token_length, false);
        from = m.end();
    }
    segment(&text[from..], from, max_token_length, &mut out);
    out
}

fn segment(text: &str, base: usize, max_token_length: usize, out: &mut Vec<Token>) {
    if text.is_ascii() {
        segment_ascii(text, base, max_token_length, out);
    } else {
        segment_unicode(text, base, max_token_length, out);
    }
}

fn segment_unicode(text: &str, base: usize, max_token_length: usize, out: &mut Vec<Token>) {
    // Start and end of the pending South-East-Asian run, merged across segments.
    let mut sea: Option<(usize, usize)> = None;
    for (start, word) in text.split_word_bound_indices() {
        let first = word.chars().next().unwrap_or(' ');
        if is_south_east_asian(first) {
            sea = match sea {
                Some((s, e)) if e == start => Some((s, start + word.len())),
                Some((s, e)) => {
                    push_chunked(out, &text[s..e], base + s, max_token_length, false);
                    Some((start, start + word.len()))
                }
                None => Some((start, start + word.len())),
            };
            continue;
        }
        if let Some((s, e)) = sea.take() {
            push_chunked(out, &text[s..e], base + s, max_token_length, false);
        }
        if word.chars().any(char::is_alphanumeric) || is_emoji(word) {
            push_chunked(out, word, base + start, max_token_length, true);
        }
    }
    if let Some((s, e)) = sea {
        push_chunked(out, &text[s..e], base + s, max_token_length, false);
    }
}

/// [`segment`] for ASCII text, without the Unicode tables: UAX#29 restricted
/// to ASCII keeps letters, digits and `_` together (WB5, WB8–10, WB13a/b),
/// joins two letters across `:`, `.` or `'` (WB6/7) and two digits across
/// `,`, `;`, `.` or `'` (WB11/12), and breaks everywhere else. Tested
/// against the general path.
fn segment_ascii(text: &str, base: usize, max_token_length: usize, out: &mut Vec<Token>) {
    let b = text.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let joins = |prev: u8, mid: u8, next: u8| {
        (prev.is_ascii_alphabetic()
            && next.is_ascii_alphabetic()
            && matches!(mid, b':' | b'.' | b'\''))
            || (prev.is_ascii_digit()
                && next.is_ascii_digit()
                && matches!(mid, b',' | b';' | b'.' | b'\''))
    };
    let mut i = 0;
    while i < b.len() {
        if !word(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        loop {
            if i < b.len() && word(b[i]) {
                i += 1;
            } else if i + 1 < b.len() && joins(b[i - 1], b[i], b[i + 1]) {
                i += 2;
            } else {
                break;
            }
        }
        let w = &text[start..i];
        if w.bytes().any(|c| c.is_ascii_alphanumeric()) {
            push_chunked(out, w, base + start, max_token_length, true);
        }
    }
}

/// Emits `word`, cut into `max` UTF-16-unit pieces as Lucene's scanner does
/// when a token outgrows its buffer. After a cut Lucene rescans, so a piece
/// without a letter or digit is dropped (`check_content`).
fn push_chunked(out: &mut Vec<Token>, word: &str, offset: usize, max: usize, check_content: bool) {
    let max = max.max(1);
    // A UTF-8 string is at least as many bytes as UTF-16 units.
    if word.len() <= max || utf16_len(word) <= max {
        out.push(token(out.len(), offset, offset + word.len(), word));
        return;
    }
    let mut rest = word;
    let mut at = offset;
    while !rest.is_empty() {
        let mut piece = utf16_prefix(rest, max);
        if piece.is_empty() {
            // A single character wider than `max` (a surrogate pair with max 1).
            piece = rest.chars().next().map_or(rest, |c| &rest[..c.len_utf8()]);
        }
        if !check_content || piece.chars().any(char::is_alphanumeric) || is_emoji(piece) {
            out.push(token(out.len(), at, at + piece.len(), piece));
        }
        at += piece.len();
        rest = &rest[piece.len()..];
    }
}

/// Letters of the scripts whose Unicode line-break class is "complex
/// context" (SA); Lucene keeps a run of them as one token.
fn is_south_east_asian(c: char) -> bool {
    if c.is_numeric() {
        return false;
    }
    matches!(c as u32,
        0x0E00..=0x0EFF        // Thai, Lao
        | 0x1000..=0x109F      // Myanmar
        | 0x1780..=0x17FF      // Khmer
        | 0x1950..=0x19DF      // Tai Le, New Tai Lue
        | 0x1A20..=0x1AAF      // Tai Tham
        | 0xA9E0..=0xA9FF      // Myanmar Extended-B
        | 0xAA60..=0xAADF      // Myanmar Extended-A, Tai Viet
        | 0x11700..=0x1174F    // Ahom
    )
}

fn is_emoji(segment: &str) -> bool {
    let mut prev_symbol = false;
    for c in segment.chars() {
        if matches!(c as u32, 0x1F000..=0x1FAFF) || (c == '\u{FE0F}' && prev_symbol) {
            return true;
        }
        prev_symbol = !c.is_alphanumeric() && !c.is_whitespace();
    }
    false
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// The ASCII path splits as the Unicode tables do.
        #[test]
        fn ascii_segmentation_is_uax29(text in "[a-cA-C0-2_:.,;'\" \n\t!-]{0,24}") {
            let mut fast = Vec::new();
            super::segment_ascii(&text, 0, 255, &mut fast);
            let mut general = Vec::new();
            super::segment_unicode(&text, 0, 255, &mut general);
            let words = |v: &Vec<tantivy::tokenizer::Token>| v.iter().map(|t| (t.offset_from, t.text.clone())).collect::<Vec<_>>();
            prop_assert_eq!(words(&fast), words(&general));
        }
    }

    use super::*;

    fn texts(tokens: Vec<Token>) -> Vec<String> {
        tokens.into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn splits_on_word_boundaries() {
        let cases: &[(&str, &[&str])] = &[
            (
                "Don't stop-believing 3.14",
                &["Don't", "stop", "believing", "3.14"],
            ),
            (
                "The quick brown fox jumps Over the lAzY DOG.",
                &[
                    "The", "quick", "brown", "fox", "jumps", "Over", "the", "lAzY", "DOG",
                ],
            ),
            (
                "U.S.A. e-mail _under_score",
                &["U.S.A", "e", "mail", "_under_score"],
            ),
            ("1,000.50 $5 v2.0", &["1,000.50", "5", "v2.0"]),
            (
                "日本語 テスト ひらがな",
                &["日", "本", "語", "テスト", "ひ", "ら", "が", "な"],
            ),
            ("สวัสดีครับ ok", &["สวัสดีครับ", "ok"]),
            ("I ❤️ 🍕!", &["I", "❤️", "🍕"]),
            ("--- ... !!!", &[]),
            ("", &[]),
        ];
        for (text, expected) in cases {
            assert_eq!(texts(standard(text, 255)), *expected, "input {text:?}");
        }
    }

    #[test]
    fn long_tokens_are_cut() {
        let long = "a".repeat(600);
        let tokens = standard(&long, 255);
        let lengths: Vec<usize> = tokens.iter().map(|t| t.text.len()).collect();
        assert_eq!(lengths, vec![255, 255, 90]);
        assert_eq!(tokens[2].position, 2);
        assert_eq!(texts(standard("abcdef gh", 4)), vec!["abcd", "ef", "gh"]);
    }

    #[test]
    fn positions_count_tokens() {
        let positions: Vec<usize> = standard("a, b; c", 255)
            .iter()
            .map(|t| t.position)
            .collect();
        assert_eq!(positions, vec![0, 1, 2]);
    }

    #[test]
    fn urls_and_emails_stay_whole() {
        assert_eq!(
            texts(uax_url_email(
                "Mail john.doe@example.com or see https://crate.io/docs?a=1.",
                255
            )),
            vec![
                "Mail",
                "john.doe@example.com",
                "or",
                "see",
                "https://crate.io/docs?a=1"
            ]
        );
    }
}
