//! Character-level behaviour of Java that Lucene's analysis relies on:
//! lengths in UTF-16 units, `Character.isWhitespace`, and per-code-point
//! (simple) case mapping. Matching these keeps token lengths, splits and
//! case folding identical to CrateDB's.

/// The UTF-16 length of a string: Lucene measures token lengths in Java chars.
pub(crate) fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// The longest prefix of `s` of at most `max` UTF-16 units, never splitting a
/// character (Lucene could split a surrogate pair; a Rust string cannot).
pub(crate) fn utf16_prefix(s: &str, max: usize) -> &str {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        units += c.len_utf16();
        if units > max {
            return &s[..i];
        }
    }
    s
}

/// Java's `Character.isWhitespace`: Unicode space separators except the
/// non-breaking ones, plus the ASCII controls Java counts. Lucene's
/// whitespace tokenizer and trim filter split on exactly these.
pub(crate) fn java_whitespace(c: char) -> bool {
    match c {
        '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | '\u{1C}'..='\u{1F}' => true,
        '\u{85}' | '\u{A0}' | '\u{2007}' | '\u{202F}' => false,
        c => c.is_whitespace(),
    }
}

/// Java's `Character.toLowerCase` applied per code point, as Lucene's
/// `LowerCaseFilter` does: no final-sigma rule, and `İ` maps to plain `i`.
pub(crate) fn lowercase(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{130}' => out.push('i'),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Java's `Character.toUpperCase` per code point: a character whose full
/// upper case is several characters (`ß` → `SS`) has no simple mapping and
/// stays as it is.
pub(crate) fn uppercase(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let mut upper = c.to_uppercase();
        match (upper.next(), upper.next()) {
            (Some(u), None) => out.push(u),
            _ => out.push(c),
        }
    }
    out
}

/// Lucene's `TurkishLowerCaseFilter`: dotted and dotless i keep their identity.
pub(crate) fn turkish_lowercase(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            'I' => {
                // "I" + combining dot above is a dotted capital i.
                if chars.peek() == Some(&'\u{307}') {
                    chars.next();
                    out.push('i');
                } else {
                    out.push('ı');
                }
            }
            '\u{130}' => out.push('i'),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Lucene's `GreekLowerCaseFilter`: lower case, final sigma as sigma, and the
/// tonos accents removed.
pub(crate) fn greek_lowercase(s: &str) -> String {
    lowercase(s)
        .chars()
        .map(|c| match c {
            'ς' => 'σ',
            'ά' => 'α',
            'έ' => 'ε',
            'ή' => 'η',
            'ί' | 'ϊ' | 'ΐ' => 'ι',
            'ό' => 'ο',
            'ύ' | 'ϋ' | 'ΰ' => 'υ',
            'ώ' => 'ω',
            c => c,
        })
        .collect()
}
