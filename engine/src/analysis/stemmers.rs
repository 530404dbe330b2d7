//! Stemmers by the names CrateDB's `stemmer` and `snowball` filters and the
//! language analyzers use.
//!
//! Exact ports of Lucene: `porter`/`english` ([`super::porter`]),
//! `minimal_english`, `possessive_english`, `light_german` and German
//! normalization. Snowball algorithms come from `frostem` (tracking current
//! Snowball; Lucene ships an older generation, so rare words may differ).
//! Approximations: `kstem`/`light_english` (Lucene's dictionary-based
//! Krovetz stemmer) is a dictionary-free inflectional stemmer; where
//! Elasticsearch's `stemmer` filter uses a non-Snowball Lucene stemmer for a
//! language (`german`, `french` light variants, `portuguese` RSLP, `arabic`,
//! `greek`…) the Snowball stemmer of that language stands in.

use frostem::Algorithm;

use super::porter;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Stemmer {
    Porter,
    Snowball(Algorithm),
    KStem,
    MinimalEnglish,
    PossessiveEnglish,
    LightGerman,
}

impl Stemmer {
    pub(crate) fn stem(self, word: &str) -> String {
        match self {
            Stemmer::Porter => porter::stem(word),
            Stemmer::Snowball(algorithm) => {
                frostem::Stemmer::new(algorithm).stem(word).into_owned()
            }
            Stemmer::KStem => kstem(word),
            Stemmer::MinimalEnglish => minimal_english(word),
            Stemmer::PossessiveEnglish => strip_possessive(word).to_string(),
            Stemmer::LightGerman => light_german(word),
        }
    }

    /// The `stemmer` filter's `language` (or `name`) parameter.
    pub(crate) fn for_stemmer_filter(language: &str) -> Result<Stemmer> {
        Ok(match language.trim().to_ascii_lowercase().as_str() {
            "english" | "porter" => Stemmer::Porter,
            "porter2" => Stemmer::Snowball(Algorithm::English),
            "light_english" | "lightenglish" | "kstem" => Stemmer::KStem,
            "minimal_english" | "minimalenglish" => Stemmer::MinimalEnglish,
            "possessive_english" | "possessiveenglish" => Stemmer::PossessiveEnglish,
            "lovins" => Stemmer::Snowball(Algorithm::Lovins),
            "light_german" | "lightgerman" => Stemmer::LightGerman,
            "german" | "german2" | "minimal_german" | "minimalgerman" => {
                Stemmer::Snowball(Algorithm::German)
            }
            other => match snowball_language(strip_variant(other)) {
                Some(a) => Stemmer::Snowball(a),
                None => return Err(unknown_stemmer(language)),
            },
        })
    }

    /// The `snowball` filter's and analyzer's `language` parameter (Lucene
    /// capitalises it: `German`, `english`, `Porter` are all accepted).
    pub(crate) fn for_snowball(language: &str) -> Result<Stemmer> {
        match language.trim().to_ascii_lowercase().as_str() {
            "porter" => Ok(Stemmer::Snowball(Algorithm::Porter)),
            "lovins" => Ok(Stemmer::Snowball(Algorithm::Lovins)),
            "german2" => Ok(Stemmer::Snowball(Algorithm::German)),
            "kp" => Err(Error::Unsupported(
                "the Kp (Kraaij-Pohlmann) snowball stemmer is not supported".into(),
            )),
            other => snowball_language(other)
                .map(Stemmer::Snowball)
                .ok_or_else(|| unknown_stemmer(language)),
        }
    }
}

fn unknown_stemmer(language: &str) -> Error {
    Error::InvalidArgument(format!("Invalid stemmer class specified: [{language}]"))
}

/// `light_french` → `french`: the light and minimal Lucene stemmers of other
/// languages are approximated by the language's Snowball stemmer.
fn strip_variant(name: &str) -> &str {
    name.strip_prefix("light_")
        .or_else(|| name.strip_prefix("minimal_"))
        .or_else(|| name.strip_suffix("_rslp"))
        .unwrap_or(name)
}

pub(crate) fn snowball_language(name: &str) -> Option<Algorithm> {
    Some(match name {
        "arabic" => Algorithm::Arabic,
        "armenian" => Algorithm::Armenian,
        "basque" => Algorithm::Basque,
        "catalan" => Algorithm::Catalan,
        "danish" => Algorithm::Danish,
        // Lucene's Dutch snowball stemmer is the classic (Porter-based) one.
        "dutch" => Algorithm::DutchPorter,
        "english" => Algorithm::English,
        "estonian" => Algorithm::Estonian,
        "finnish" => Algorithm::Finnish,
        "french" => Algorithm::French,
        "german" => Algorithm::German,
        "greek" => Algorithm::Greek,
        "hungarian" => Algorithm::Hungarian,
        "indonesian" => Algorithm::Indonesian,
        "irish" => Algorithm::Irish,
        "italian" => Algorithm::Italian,
        "lithuanian" => Algorithm::Lithuanian,
        "norwegian" => Algorithm::Norwegian,
        "portuguese" => Algorithm::Portuguese,
        "romanian" => Algorithm::Romanian,
        "russian" => Algorithm::Russian,
        "spanish" => Algorithm::Spanish,
        "swedish" => Algorithm::Swedish,
        "turkish" => Algorithm::Turkish,
        _ => return None,
    })
}

/// Lucene's `EnglishPossessiveFilter`: a trailing `'s` (any apostrophe).
pub(crate) fn strip_possessive(word: &str) -> &str {
    const POSSESSIVES: [&str; 6] = [
        "'s",
        "'S",
        "\u{2019}s",
        "\u{2019}S",
        "\u{FF07}s",
        "\u{FF07}S",
    ];
    for suffix in POSSESSIVES {
        if let Some(stem) = word.strip_suffix(suffix) {
            return stem;
        }
    }
    word
}

/// Lucene's `EnglishMinimalStemmer`: plurals only.
pub(crate) fn minimal_english(word: &str) -> String {
    let s: Vec<char> = word.chars().collect();
    let len = s.len();
    if len < 3 || s[len - 1] != 's' {
        return word.to_string();
    }
    let keep = match s[len - 2] {
        'u' | 's' => len,
        'e' => {
            if len > 3 && s[len - 3] == 'i' && s[len - 4] != 'a' && s[len - 4] != 'e' {
                let mut out: String = s[..len - 3].iter().collect();
                out.push('y');
                return out;
            }
            if matches!(s[len - 3], 'i' | 'a' | 'o' | 'e') {
                len
            } else {
                len - 1
            }
        }
        _ => len - 1,
    };
    s[..keep].iter().collect()
}

/// Stands in for Lucene's Krovetz stemmer, whose dictionary cannot be
/// reproduced: plurals (`-ies` → `-y`, `-es` after a sibilant, else `-s`),
/// then `-ed`/`-ing` removed as in Porter's step 1b (restoring a final `e`
/// or undoubling a consonant). It is lighter than Porter, as Krovetz is, but
/// stems some words Krovetz's dictionary would protect and misses its
/// derivational rules.
pub(crate) fn kstem(word: &str) -> String {
    let plural = kstem_plural(word);
    let chars: Vec<char> = plural.chars().collect();
    let vowel = |c: char| matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y');
    let suffix = if plural.ends_with("ing") && chars.len() > 5 {
        3
    } else if plural.ends_with("ed") && !plural.ends_with("eed") && chars.len() > 4 {
        2
    } else {
        return plural;
    };
    let stem = &chars[..chars.len() - suffix];
    if !stem.iter().any(|&c| vowel(c)) {
        return plural;
    }
    let n = stem.len();
    let last = stem[n - 1];
    let mut out: String = stem.iter().collect();
    if n >= 2 && last == stem[n - 2] && !vowel(last) && !matches!(last, 'l' | 's' | 'z') {
        out.pop();
    } else {
        let before = if n >= 2 { stem[n - 2] } else { ' ' };
        let restores_e = matches!((before, last), ('a', 't') | ('b', 'l') | ('i', 'z'))
            || (n == 3
                && !vowel(stem[0])
                && vowel(stem[1])
                && !vowel(last)
                && !matches!(last, 'w' | 'x' | 'y'));
        if restores_e {
            out.push('e');
        }
    }
    out
}

fn kstem_plural(word: &str) -> String {
    let n = word.chars().count();
    if n < 3 || !word.ends_with('s') || ["ss", "us", "is"].iter().any(|e| word.ends_with(e)) {
        return word.to_string();
    }
    if n > 4 && word.ends_with("ies") && !word.ends_with("aies") && !word.ends_with("eies") {
        return format!("{}y", &word[..word.len() - 3]);
    }
    if ["sses", "xes", "ches", "shes", "zes"]
        .iter()
        .any(|e| word.ends_with(e))
    {
        return word[..word.len() - 2].to_string();
    }
    word[..word.len() - 1].to_string()
}

/// Lucene's `GermanLightStemmer` (Savoy), including its accent folding.
pub(crate) fn light_german(word: &str) -> String {
    let mut s: Vec<char> = word
        .chars()
        .map(|c| match c {
            'ä' | 'à' | 'á' | 'â' => 'a',
            'ö' | 'ò' | 'ó' | 'ô' => 'o',
            'ï' | 'ì' | 'í' | 'î' => 'i',
            'ü' | 'ù' | 'ú' | 'û' => 'u',
            c => c,
        })
        .collect();
    let st_ending =
        |c: char| matches!(c, 'b' | 'd' | 'f' | 'g' | 'h' | 'k' | 'l' | 'm' | 'n' | 't');
    let len = s.len();
    let len = if len > 5 && s[len - 3..] == ['e', 'r', 'n'] {
        len - 3
    } else if len > 4 && s[len - 2] == 'e' && matches!(s[len - 1], 'm' | 'n' | 'r' | 's') {
        len - 2
    } else if len > 3 && (s[len - 1] == 'e' || (s[len - 1] == 's' && st_ending(s[len - 2]))) {
        len - 1
    } else {
        len
    };
    let len = if len > 5 && s[len - 3..len] == ['e', 's', 't'] {
        len - 3
    } else if len > 4
        && ((s[len - 2] == 'e' && matches!(s[len - 1], 'r' | 'n'))
            || (s[len - 2] == 's' && s[len - 1] == 't' && st_ending(s[len - 3])))
    {
        len - 2
    } else {
        len
    };
    s.truncate(len);
    s.into_iter().collect()
}

/// Lucene's `GermanNormalizationFilter`: umlauts folded, `ß` → `ss`, and
/// `ae`/`oe`/`ue` → `a`/`o`/`u` where they stand for an umlaut.
pub(crate) fn german_normalize(word: &str) -> String {
    #[derive(PartialEq)]
    enum State {
        Ordinary,
        NoUmlaut,
        Umlaut,
    }
    let mut out = String::with_capacity(word.len() + 1);
    let mut state = State::Ordinary;
    for c in word.chars() {
        match c {
            'a' | 'o' => {
                state = State::Umlaut;
                out.push(c);
            }
            'u' => {
                state = if state == State::Ordinary {
                    State::Umlaut
                } else {
                    State::NoUmlaut
                };
                out.push(c);
            }
            'e' => {
                if state != State::Umlaut {
                    out.push(c);
                }
                state = State::NoUmlaut;
            }
            'i' | 'q' | 'y' => {
                state = State::NoUmlaut;
                out.push(c);
            }
            'ä' | 'ö' | 'ü' => {
                out.push(match c {
                    'ä' => 'a',
                    'ö' => 'o',
                    _ => 'u',
                });
                state = State::NoUmlaut;
            }
            'ß' => {
                out.push_str("ss");
                state = State::Ordinary;
            }
            c => {
                out.push(c);
                state = State::Ordinary;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_and_possessive() {
        for (w, e) in [
            ("cats", "cat"),
            ("ponies", "pony"),
            ("plays", "play"),
            ("dresses", "dresse"),
            ("bus", "bus"),
            ("class", "class"),
            ("toes", "toes"),
            ("heroes", "heroes"),
            ("is", "is"),
            ("eyes", "eye"),
            ("series", "sery"),
        ] {
            assert_eq!(minimal_english(w), e, "{w}");
        }
        assert_eq!(strip_possessive("John's"), "John");
        assert_eq!(strip_possessive("JOHN'S"), "JOHN");
        assert_eq!(strip_possessive("dog’s"), "dog");
        assert_eq!(strip_possessive("'s"), "");
        assert_eq!(strip_possessive("its"), "its");
    }

    #[test]
    fn kstem_is_light() {
        for (w, e) in [
            ("running", "run"),
            ("jumped", "jump"),
            ("hoping", "hope"),
            ("ponies", "pony"),
            ("cats", "cat"),
            ("generalizations", "generalization"),
            ("feed", "feed"),
            ("sing", "sing"),
            ("bled", "bled"),
            ("falling", "fall"),
            ("created", "create"),
            ("thing", "thing"),
            ("red", "red"),
            ("foxes", "fox"),
            ("classes", "class"),
            ("churches", "church"),
            ("toes", "toe"),
            ("bus", "bus"),
            ("analysis", "analysis"),
        ] {
            assert_eq!(kstem(w), e, "{w}");
        }
    }

    #[test]
    fn german() {
        for (w, e) in [
            ("häuser", "haus"),
            ("haus", "haus"),
            ("katzen", "katz"),
            ("kätzchen", "katzch"),
            ("bücher", "buch"),
        ] {
            assert_eq!(light_german(&german_normalize(w)), e, "{w}");
        }
        assert_eq!(german_normalize("straße"), "strasse");
        assert_eq!(german_normalize("haeuser"), "hauser");
        assert_eq!(german_normalize("quelle"), "quelle");
        assert_eq!(german_normalize("blaue"), "blaue");
    }

    #[test]
    fn filter_languages() {
        assert_eq!(
            Stemmer::for_stemmer_filter("english").expect("known"),
            Stemmer::Porter
        );
        assert_eq!(
            Stemmer::for_stemmer_filter("light_french").expect("known"),
            Stemmer::Snowball(Algorithm::French)
        );
        assert_eq!(
            Stemmer::for_snowball("German")
                .expect("known")
                .stem("katzen"),
            "katz"
        );
        assert!(Stemmer::for_stemmer_filter("klingon").is_err());
        assert!(matches!(
            Stemmer::for_snowball("Kp"),
            Err(Error::Unsupported(_))
        ));
    }
}
