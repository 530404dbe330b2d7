//! The `html_strip` char filter: HTML markup out, text in.
//!
//! Follows Lucene's `HTMLStripCharFilter` in what decides tokens: tags,
//! comments, processing instructions and `<script>`/`<style>` bodies
//! vanish; block-level tags (and `<br>`) become a line break so the words
//! around them stay apart, inline tags vanish without a trace; character
//! references are decoded (numeric ones and the HTML 4 Latin-1, special and
//! common symbol names); tags named in `escaped_tags` are kept. Lucene's
//! scanner handles more malformed markup; here a `<` that does not start a
//! well-formed tag is kept as text.

const BLOCK_TAGS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "br",
    "button",
    "canvas",
    "caption",
    "center",
    "col",
    "colgroup",
    "dd",
    "dir",
    "div",
    "dl",
    "dt",
    "embed",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "frame",
    "frameset",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hgroup",
    "hr",
    "html",
    "iframe",
    "isindex",
    "li",
    "main",
    "map",
    "menu",
    "nav",
    "noframes",
    "noscript",
    "object",
    "ol",
    "output",
    "p",
    "pre",
    "progress",
    "section",
    "table",
    "tbody",
    "td",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "ul",
    "video",
];

/// Entity names for U+00A0..=U+00FF, in code point order.
const LATIN1: &str = "nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr \
    deg plusmn sup2 sup3 acute micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest \
    Agrave Aacute Acirc Atilde Auml Aring AElig Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml \
    ETH Ntilde Ograve Oacute Ocirc Otilde Ouml times Oslash Ugrave Uacute Ucirc Uuml Yacute THORN szlig \
    agrave aacute acirc atilde auml aring aelig ccedil egrave eacute ecirc euml igrave iacute icirc iuml \
    eth ntilde ograve oacute ocirc otilde ouml divide oslash ugrave uacute ucirc uuml yacute thorn yuml";

const OTHER_ENTITIES: &[(&str, char)] = &[
    ("quot", '"'),
    ("amp", '&'),
    ("lt", '<'),
    ("gt", '>'),
    ("apos", '\''),
    ("OElig", 'Œ'),
    ("oelig", 'œ'),
    ("Scaron", 'Š'),
    ("scaron", 'š'),
    ("Yuml", 'Ÿ'),
    ("fnof", 'ƒ'),
    ("circ", 'ˆ'),
    ("tilde", '˜'),
    ("ensp", '\u{2002}'),
    ("emsp", '\u{2003}'),
    ("thinsp", '\u{2009}'),
    ("zwnj", '\u{200C}'),
    ("zwj", '\u{200D}'),
    ("lrm", '\u{200E}'),
    ("rlm", '\u{200F}'),
    ("ndash", '–'),
    ("mdash", '—'),
    ("lsquo", '‘'),
    ("rsquo", '’'),
    ("sbquo", '‚'),
    ("ldquo", '“'),
    ("rdquo", '”'),
    ("bdquo", '„'),
    ("dagger", '†'),
    ("Dagger", '‡'),
    ("bull", '•'),
    ("hellip", '…'),
    ("permil", '‰'),
    ("prime", '′'),
    ("Prime", '″'),
    ("lsaquo", '‹'),
    ("rsaquo", '›'),
    ("oline", '‾'),
    ("euro", '€'),
    ("trade", '™'),
    ("larr", '←'),
    ("uarr", '↑'),
    ("rarr", '→'),
    ("darr", '↓'),
    ("harr", '↔'),
    ("minus", '−'),
    ("infin", '∞'),
    ("ne", '≠'),
    ("le", '≤'),
    ("ge", '≥'),
];

/// Strips markup from `html`, keeping the tags in `escaped_tags` (lower case).
pub(crate) fn strip(html: &str, escaped_tags: &[String]) -> String {
    let mut out = String::with_capacity(html.len());
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        let Some(c) = rest.chars().next() else { break };
        match c {
            '<' => {
                if let Some((consumed, replacement)) = markup(rest, escaped_tags) {
                    out.push_str(replacement);
                    i += consumed;
                    continue;
                }
                out.push('<');
                i += 1;
            }
            '&' => match entity(rest) {
                Some((consumed, decoded)) => {
                    out.push(decoded);
                    i += consumed;
                }
                None => {
                    out.push('&');
                    i += 1;
                }
            },
            c => {
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// The markup at the start of `s` (which starts with `<`): bytes consumed and
/// what replaces it, or `None` when it is not markup.
fn markup<'a>(s: &'a str, escaped_tags: &[String]) -> Option<(usize, &'a str)> {
    if let Some(body) = s.strip_prefix("<!--") {
        let end = body.find("-->").map_or(s.len(), |e| 4 + e + 3);
        return Some((end, ""));
    }
    if let Some(body) = s.strip_prefix("<![CDATA[") {
        return Some(match body.find("]]>") {
            Some(e) => (9 + e + 3, &body[..e]),
            None => (s.len(), body),
        });
    }
    if s.starts_with("<!") || s.starts_with("<?") {
        return s.find('>').map(|e| (e + 1, ""));
    }
    let after = s[1..].strip_prefix('/').unwrap_or(&s[1..]);
    let closing = after.len() < s.len() - 1;
    let name_len = after
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphanumeric() || (i > 0 && (c == '-' || c == ':' || c == '_')))
        })
        .map_or(after.len(), |(i, _)| i);
    if name_len == 0 || !after.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let name = after[..name_len].to_ascii_lowercase();
    let end = tag_end(s)?;
    if escaped_tags.contains(&name) {
        return Some((end, &s[..end]));
    }
    if !closing && (name == "script" || name == "style") {
        let close = format!("</{name}");
        let body_end = find_ascii_ci(&s[end..], &close)
            .and_then(|at| tag_end(&s[end + at..]).map(|e| end + at + e))
            .unwrap_or(s.len());
        return Some((body_end, "\n"));
    }
    let replacement = if BLOCK_TAGS.contains(&name.as_str()) {
        "\n"
    } else {
        ""
    };
    Some((end, replacement))
}

/// The byte just past the `>` closing the tag at the start of `s`, skipping
/// quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i + 1),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    let n = needle.len();
    haystack.char_indices().map(|(i, _)| i).find(|&i| {
        haystack
            .get(i..i + n)
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

/// A character reference at the start of `s` (which starts with `&`).
fn entity(s: &str) -> Option<(usize, char)> {
    let semi = s[1..].find(';')? + 1;
    if semi > 12 {
        return None;
    }
    let name = &s[1..semi];
    let decoded = if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse::<u32>().ok()?,
        };
        char::from_u32(code)?
    } else if let Some(i) = LATIN1.split_ascii_whitespace().position(|n| n == name) {
        char::from_u32(0xA0 + i as u32)?
    } else {
        OTHER_ENTITIES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, c)| c)?
    };
    Some((semi + 1, decoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_markup() {
        let cases: &[(&str, &str)] = &[
            ("<p>I&apos;m so <b>happy</b>!</p>", "\nI'm so happy!\n"),
            ("a<br/>b<br>c", "a\nb\nc"),
            ("x<!-- hidden -->y<?php echo 1 ?>z", "xyz"),
            (
                "<script type=\"text/javascript\">var a = '<p>';</script>after",
                "\nafter",
            ),
            ("<STYLE>p { color: red }</STYLE>text", "\ntext"),
            (
                "caf&eacute; &lt;tag&gt; &#65;&#x42; &bogus; & AT&T",
                "café <tag> AB &bogus; & AT&T",
            ),
            ("1 < 2 and 3 > 2", "1 < 2 and 3 > 2"),
            ("<a href=\"x>y\">link</a>", "link"),
            ("<![CDATA[<kept>]]>", "<kept>"),
            ("unterminated <b", "unterminated <b"),
            ("&nbsp;&yuml;&euro;", "\u{A0}ÿ€"),
        ];
        for (html, text) in cases {
            assert_eq!(strip(html, &[]), *text, "input {html:?}");
        }
    }

    #[test]
    fn keeps_escaped_tags() {
        assert_eq!(
            strip("<b>bold</b> <i>it</i>", &["b".to_string()]),
            "<b>bold</b> it"
        );
    }
}
