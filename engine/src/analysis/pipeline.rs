//! The analyzer as tantivy sees it: one [`Tokenizer`] running char filters,
//! a tokenizer and token filters over a token vector.
//!
//! Lucene's filters are streaming, but several of CrateDB's (shingle,
//! fingerprint, unique, limit) look across tokens; running every stage over
//! a `Vec<Token>` keeps them all simple and the result identical. Positions
//! follow Lucene: a removed token leaves a gap unless the Lucene filter it
//! imitates drops position increments (see [`remove_closing_gaps`]).

use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer};

use super::char_filters::CharFilter;
use super::token_filters::TokenFilter;
use super::tokenizers::TokenizerKind;

/// A complete analyzer: char filters, one tokenizer, token filters.
#[derive(Clone)]
pub(crate) struct Pipeline {
    pub char_filters: Vec<CharFilter>,
    pub tokenizer: TokenizerKind,
    pub filters: Vec<TokenFilter>,
}

impl Pipeline {
    pub(crate) fn new(tokenizer: TokenizerKind) -> Pipeline {
        Pipeline {
            char_filters: Vec::new(),
            tokenizer,
            filters: Vec::new(),
        }
    }

    pub(crate) fn filter(mut self, filter: TokenFilter) -> Pipeline {
        self.filters.push(filter);
        self
    }

    pub(crate) fn run(&self, text: &str) -> Vec<Token> {
        let mut tokens = if self.char_filters.is_empty() {
            self.tokenizer.tokenize(text)
        } else {
            let mut filtered = text.to_string();
            for f in &self.char_filters {
                filtered = f.apply(&filtered);
            }
            self.tokenizer.tokenize(&filtered)
        };
        for f in &self.filters {
            f.apply(&mut tokens);
            if tokens.is_empty() {
                break;
            }
        }
        tokens
    }
}

impl Tokenizer for Pipeline {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream::new(self.run(text))
    }
}

/// A token stream over tokens computed up front.
pub struct VecTokenStream {
    tokens: Vec<Token>,
    /// Index of the current token plus one; 0 before the first `advance`.
    next: usize,
    none: Token,
}

impl VecTokenStream {
    fn new(tokens: Vec<Token>) -> VecTokenStream {
        VecTokenStream {
            tokens,
            next: 0,
            none: Token::default(),
        }
    }
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            self.next = self.tokens.len() + 1;
            false
        }
    }

    fn token(&self) -> &Token {
        self.next
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .unwrap_or(&self.none)
    }

    fn token_mut(&mut self) -> &mut Token {
        match self.next.checked_sub(1) {
            Some(i) if i < self.tokens.len() => &mut self.tokens[i],
            _ => &mut self.none,
        }
    }
}

/// The token texts `analyzer` produces for `text`.
pub fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(t) = stream.next() {
        out.push(t.text.clone());
    }
    out
}

/// The tokens `analyzer` produces for `text` with their positions, as phrase
/// queries need them (a removed stop word leaves a gap).
pub fn analyze_with_positions(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(t) = stream.next() {
        out.push((t.position, t.text.clone()));
    }
    out
}
