//! The one error type of the engine, and its mapping onto CrateDB's error codes.
//!
//! Every failure a client can cause or observe is an [`Error`]. Each variant
//! corresponds to a CrateDB exception: [`Error::code`] gives CrateDB's error
//! code (e.g. 4041 for an unknown relation), [`Error::http_status`] the HTTP
//! status that goes with it, and `Display` renders CrateDB's message format
//! `ExceptionName[message]`, which clients such as `crash` print verbatim.

use std::fmt;

/// Shorthand for results carrying an engine [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An engine error. The payload is the human-readable message inside the brackets.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum Error {
    /// Invalid syntax, or a statement that cannot be analysed (4000).
    #[error("SQLParseException[{0}]")]
    Parse(String),
    /// A value that cannot be converted to the required type (4000).
    #[error("SQLParseException[{0}]")]
    Cast(String),
    /// A generic bad request (4000), e.g. wrong argument count or malformed request.
    #[error("SQLParseException[{0}]")]
    InvalidArgument(String),
    /// A valid statement using something Shoal does not support yet (4004).
    #[error("UnsupportedFeatureException[{0}]")]
    Unsupported(String),
    /// An unknown scalar or aggregate function (4004).
    #[error("UnsupportedFunctionException[{0}]")]
    UnknownFunction(String),
    /// A value rejected for a column (4003).
    #[error("ColumnValidationException[Validation failed for {column}: {reason}]")]
    ColumnValidation { column: String, reason: String },
    /// An invalid table or schema name (4002).
    #[error("InvalidRelationName[{0}]")]
    InvalidRelationName(String),
    /// An invalid column name (4008).
    #[error("InvalidColumnNameException[{0}]")]
    InvalidColumnName(String),
    /// A column name that more than one relation of a join has (4006).
    #[error("AmbiguousColumnException[Column \"{0}\" is ambiguous]")]
    AmbiguousColumn(String),
    /// Unknown table (4041).
    #[error("RelationUnknown[Relation '{0}' unknown]")]
    RelationUnknown(String),
    /// Unknown column (4043).
    #[error("ColumnUnknownException[Column {0} unknown]")]
    ColumnUnknown(String),
    /// Unknown schema (4045).
    #[error("SchemaUnknownException[Schema '{0}' unknown]")]
    SchemaUnknown(String),
    /// Unknown document, e.g. a missing blob (40411).
    #[error("DocumentMissingException[{0}]")]
    DocumentMissing(String),
    /// A row with the same primary key exists already (4091).
    #[error("DuplicateKeyException[A document with the same primary key exists already]")]
    DuplicateKey,
    /// Optimistic concurrency control failed (4092).
    #[error("VersionConflictEngineException[{0}]")]
    VersionConflict(String),
    /// The table exists already (4093).
    #[error("RelationAlreadyExists[Relation '{0}' already exists.]")]
    RelationExists(String),
    /// Arithmetic overflow and similar runtime evaluation failures (4000 in CrateDB's mapping).
    #[error("ArithmeticException[{0}]")]
    Arithmetic(String),
    /// The request body exceeds the configured limit (413 is not a CrateDB code; CrateDB answers 4000).
    #[error("SQLParseException[{0}]")]
    TooLarge(String),
    /// A shard cannot serve the request (5002).
    #[error("ShardsUnavailableException[{0}]")]
    ShardsUnavailable(String),
    /// A request could not be sent: the node it was for cannot be reached.
    /// It was never delivered, so it may be retried elsewhere (5002).
    #[error("ShardsUnavailableException[{0}]")]
    NodeUnreachable(String),
    /// A shard copy refused operations from a primary of an older term than
    /// it knows: the sender is no longer the primary (5002).
    #[error("IllegalIndexShardStateException[{0}]")]
    StalePrimary(String),
    /// The cluster refuses the operation: no master, so writes and schema
    /// changes are blocked (5031).
    #[error("ClusterBlockException[{0}]")]
    ClusterBlock(String),
    /// A circuit breaker refused memory the work needed (5000, as in CrateDB).
    #[error("CircuitBreakingException[{0}]")]
    CircuitBreaking(String),
    /// The statement was killed (5005).
    #[error("JobKilledException[{0}]")]
    Killed(String),
    /// Storage failure: I/O, corruption (5000).
    #[error("IOException[{0}]")]
    Io(String),
    /// A bug or an unexpected condition (5000).
    #[error("InternalError[{0}]")]
    Internal(String),
}

impl Error {
    /// CrateDB's numeric error code for this error.
    pub fn code(&self) -> u32 {
        match self {
            Error::Parse(_) | Error::Cast(_) | Error::InvalidArgument(_) | Error::TooLarge(_) => {
                4000
            }
            Error::Arithmetic(_) => 4000,
            Error::InvalidRelationName(_) => 4002,
            Error::ColumnValidation { .. } => 4003,
            Error::Unsupported(_) | Error::UnknownFunction(_) => 4004,
            Error::AmbiguousColumn(_) => 4006,
            Error::InvalidColumnName(_) => 4008,
            Error::RelationUnknown(_) => 4041,
            Error::ColumnUnknown(_) => 4043,
            Error::SchemaUnknown(_) => 4045,
            Error::DocumentMissing(_) => 40411,
            Error::DuplicateKey => 4091,
            Error::VersionConflict(_) => 4092,
            Error::RelationExists(_) => 4093,
            Error::ShardsUnavailable(_) | Error::NodeUnreachable(_) | Error::StalePrimary(_) => {
                5002
            }
            Error::Killed(_) => 5005,
            Error::ClusterBlock(_) => 5031,
            Error::Io(_) | Error::Internal(_) | Error::CircuitBreaking(_) => 5000,
        }
    }

    /// The HTTP status CrateDB answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::TooLarge(_) => 413,
            _ => match self.code() {
                c if c >= 10000 => (c / 100) as u16,
                c => (c / 10) as u16,
            },
        }
    }

    /// The message without the `ExceptionName[...]` wrapper.
    pub fn message(&self) -> String {
        let full = self.to_string();
        match full.split_once('[') {
            Some((_, rest)) => rest.strip_suffix(']').unwrap_or(rest).to_string(),
            None => full,
        }
    }

    /// A short helper for internal errors with context.
    pub fn internal(msg: impl fmt::Display) -> Error {
        Error::Internal(msg.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

impl From<tantivy::TantivyError> for Error {
    fn from(e: tantivy::TantivyError) -> Self {
        Error::Io(format!("index: {e}"))
    }
}

impl From<sqlparser::parser::ParserError> for Error {
    fn from(e: sqlparser::parser::ParserError) -> Self {
        let msg = match e {
            sqlparser::parser::ParserError::ParserError(m)
            | sqlparser::parser::ParserError::TokenizerError(m) => m,
            sqlparser::parser::ParserError::RecursionLimitExceeded => {
                "statement is nested too deeply".to_string()
            }
        };
        Error::Parse(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses_follow_cratedb() {
        assert_eq!(Error::RelationUnknown("doc.t".into()).code(), 4041);
        assert_eq!(Error::RelationUnknown("doc.t".into()).http_status(), 404);
        assert_eq!(Error::DuplicateKey.http_status(), 409);
        assert_eq!(Error::DocumentMissing("x".into()).http_status(), 404);
        assert_eq!(Error::Internal("x".into()).http_status(), 500);
        assert_eq!(
            Error::SchemaUnknown("foo".into()).to_string(),
            "SchemaUnknownException[Schema 'foo' unknown]"
        );
    }
}
