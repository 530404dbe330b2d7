//! `COPY t FROM 'uri'` and `COPY t TO DIRECTORY 'path'`: bulk import from
//! and export to files on the node's file system, as CrateDB does.
//!
//! Import reads JSON lines (default) or CSV with a header from every file
//! matching the URI (`file:///path/*.json` or a plain path; `*` globs in the
//! file name), streamed in batches ([`reader`]). Rows go through the normal
//! write path, so they are typed, validated and may add columns; rows that
//! fail are counted as errors and skipped. `RETURN SUMMARY` reports per
//! file. Export writes one file of JSON lines per shard
//! (`<table>_<shard>_.json[.gz]`) from the last refresh. Which files COPY may
//! touch at all is decided in [`files`].
//!
//! The simulator has no real file system: this module is not built under
//! madsim, where COPY is refused.

mod files;
mod reader;

pub use files::CopyRoots;

use std::collections::BTreeMap;

use super::{Node, QueryResult, Session};
use crate::error::{Error, Result};
use crate::expr::EvalCtx;
use crate::sql::ast::{Copy, CopyDirection};
use crate::types::{DataType, Object, Value};

/// Parsed COPY options.
struct CopyOptions {
    format: Option<String>,
    compression: Option<String>,
    /// COPY FROM: `overwrite_duplicates` (replace rows whose key exists).
    overwrite_duplicates: bool,
    /// COPY TO: `overwrite` (replace files that exist; a Shoal option).
    overwrite_files: bool,
}

fn options(with: &[(String, sqlparser::ast::Expr)]) -> Result<CopyOptions> {
    let mut o = CopyOptions {
        format: None,
        compression: None,
        overwrite_duplicates: false,
        overwrite_files: false,
    };
    for (k, v) in with {
        let text = crate::sql::expr_text(v);
        match k.as_str() {
            "format" => o.format = Some(text.to_lowercase()),
            "compression" => o.compression = Some(text.to_lowercase()),
            "overwrite_duplicates" => o.overwrite_duplicates = text == "true",
            "overwrite" => o.overwrite_files = text == "true",
            "bulk_size"
            | "shared"
            | "node_filters"
            | "num_readers"
            | "fail_fast"
            | "wait_for_completion"
            | "empty_string_as_null"
            | "delimiter"
            | "header"
            | "skip"
            | "validation" => {}
            other => {
                return Err(Error::InvalidArgument(format!(
                    "Unknown COPY option: {other}"
                )));
            }
        }
    }
    Ok(o)
}

impl Node {
    pub(super) async fn copy(
        &self,
        session: &Session,
        copy: &Copy,
        ctx: EvalCtx,
    ) -> Result<QueryResult> {
        #[cfg(madsim)]
        {
            let _ = (session, copy, ctx);
            Err(Error::Unsupported(
                "COPY is not available in the simulator".into(),
            ))
        }
        #[cfg(not(madsim))]
        {
            let catalog = self.catalog();
            let pctx = crate::planner::PlanCtx::with_catalog(&catalog, &session.default_schema);
            let table = match crate::planner::select::resolve_table(&pctx, &copy.table)? {
                crate::planner::select::TableRef::User(t) => t,
                crate::planner::select::TableRef::System(..) => {
                    return Err(Error::Unsupported("COPY works on user tables only".into()));
                }
            };
            drop(pctx);
            let opts = options(&copy.with)?;
            match &copy.direction {
                CopyDirection::From {
                    uri,
                    return_summary,
                } => {
                    let uri = constant_text(uri, &ctx)?;
                    self.copy_from(table, &copy.columns, &uri, &opts, *return_summary, ctx)
                        .await
                }
                CopyDirection::To {
                    directory,
                    selection,
                } => {
                    let dir = constant_text(directory, &ctx)?;
                    self.copy_to(
                        session,
                        copy,
                        &table,
                        &dir,
                        selection.as_deref(),
                        &opts,
                        ctx,
                    )
                    .await
                }
            }
        }
    }

    async fn copy_from(
        &self,
        table: std::sync::Arc<crate::catalog::TableInfo>,
        columns: &[String],
        uri: &str,
        opts: &CopyOptions,
        summary: bool,
        ctx: EvalCtx,
    ) -> Result<QueryResult> {
        let conflict = opts
            .overwrite_duplicates
            .then_some(crate::planner::dml::ConflictPlan::Overwrite);
        let mut total = 0i64;
        let mut summary_rows = Vec::new();
        for (file_name, opened) in self.copy_roots.sources(uri)? {
            let file = match opened {
                Ok(f) => f,
                Err(e) => {
                    let mut errors = FileErrors::default();
                    errors.add(format!("{file_name} ({e})"), 0);
                    summary_rows.push((file_name, Value::Null, Value::Null, errors.into_value()));
                    continue;
                }
            };
            let format = reader::Format {
                csv: opts.format.as_deref() == Some("csv") || file_name.ends_with(".csv"),
                gzip: opts.compression.as_deref() == Some("gzip") || file_name.ends_with(".gz"),
                columns: columns.to_vec(),
            };
            let (tx, mut rx) = tokio::sync::mpsc::channel(1);
            let memory = ctx.memory.clone();
            let reading =
                crate::runtime::spawn_blocking(move || reader::read_file(file, format, memory, tx));
            let mut errors = FileErrors::default();
            let mut ok = 0i64;
            while let Some(batch) = rx.recv().await {
                let batch = batch?;
                for (line, message) in batch.errors {
                    errors.add(message, line);
                }
                let lines: Vec<usize> = batch.rows.iter().map(|(line, _)| *line).collect();
                let raw: Vec<(usize, Object)> = batch
                    .rows
                    .into_iter()
                    .enumerate()
                    .map(|(i, (_, row))| (i, row))
                    .collect();
                let mut results: Vec<Result<i64>> = (0..lines.len()).map(|_| Ok(0)).collect();
                // Each batch sees the columns earlier batches added.
                let current = self
                    .catalog()
                    .table(&table.ident)
                    .cloned()
                    .unwrap_or_else(|| table.clone());
                crate::exec::Executor::new(self, ctx.clone())
                    .write_rows(current, raw, conflict.as_ref(), &mut results, true)
                    .await?;
                for (i, r) in results.into_iter().enumerate() {
                    match r {
                        Ok(n) => ok += n,
                        // CrateDB keys the summary by the bare message.
                        Err(e) => errors.add(e.message(), lines[i]),
                    }
                }
                ctx.memory.release(batch.bytes);
            }
            reading.join().await;
            total += ok;
            let error_count = errors.count;
            summary_rows.push((
                format!("file://{file_name}"),
                Value::Int(ok),
                Value::Int(error_count),
                errors.into_value(),
            ));
        }
        if !summary {
            return Ok(QueryResult::affected(total));
        }
        let mut node = Object::default();
        node.insert("id".into(), Value::Text(self.id.clone()));
        node.insert("name".into(), Value::Text(self.config.node_name.clone()));
        let rows: Vec<Vec<Value>> = summary_rows
            .into_iter()
            .map(|(uri, ok, err, errors)| {
                vec![
                    Value::Object(Box::new(node.clone())),
                    Value::Text(uri),
                    ok,
                    err,
                    errors,
                ]
            })
            .collect();
        Ok(QueryResult {
            cols: ["node", "uri", "success_count", "error_count", "errors"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            types: vec![
                DataType::object(),
                DataType::Text,
                DataType::BigInt,
                DataType::BigInt,
                DataType::object(),
            ],
            rowcount: rows.len() as i64,
            rows,
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn copy_to(
        &self,
        session: &Session,
        copy: &Copy,
        table: &crate::catalog::TableInfo,
        dir: &str,
        selection: Option<&sqlparser::ast::Expr>,
        opts: &CopyOptions,
        ctx: EvalCtx,
    ) -> Result<QueryResult> {
        let target = std::sync::Arc::new(self.copy_roots.target_dir(dir)?);
        let gzip = opts.compression.as_deref() == Some("gzip");
        let cols = if copy.columns.is_empty() {
            "*".to_string()
        } else {
            copy.columns.join(", ")
        };
        let mut total = 0i64;
        for shard in 0..table.num_shards {
            // Each shard's rows: a query restricted to that shard's documents.
            let filter = selection.map(|s| format!(" WHERE {s}")).unwrap_or_default();
            let sql = format!(
                "SELECT _raw, {cols} FROM \"{}\".\"{}\"{filter}",
                table.ident.schema, table.ident.name
            );
            let stmt = crate::sql::parse_one(&sql)?;
            let crate::sql::ast::Statement::Query(q) = stmt else {
                continue;
            };
            let catalog = self.catalog();
            let pctx = crate::planner::PlanCtx::with_catalog(&catalog, &session.default_schema);
            let plan = crate::planner::select::plan_query(&pctx, &q)?;
            drop(pctx);
            let rows = crate::exec::Executor::new(self, ctx.clone())
                .shard_rows(&plan, table, shard)
                .await?;
            let name = format!(
                "{}_{shard}_.json{}",
                table.ident.name,
                if gzip { ".gz" } else { "" }
            );
            let count = rows.len() as i64;
            let columns = copy.columns.clone();
            let target = target.clone();
            let overwrite = opts.overwrite_files;
            // Written off the async workers: the disk may be slow.
            crate::runtime::spawn_blocking(move || {
                write_rows(&target, &name, overwrite, gzip, &columns, &rows)
            })
            .join()
            .await?;
            total += count;
        }
        Ok(QueryResult::affected(total))
    }
}

/// Writes one shard's rows as JSON lines into `name` in `target`.
fn write_rows(
    target: &files::TargetDir,
    name: &str,
    overwrite: bool,
    gzip: bool,
    columns: &[String],
    rows: &[Vec<Value>],
) -> Result<()> {
    use std::io::Write;
    let file = target.create(name, overwrite)?;
    let buffered = std::io::BufWriter::new(file);
    let mut out: Box<dyn Write> = if gzip {
        Box::new(flate2::write::GzEncoder::new(
            buffered,
            flate2::Compression::default(),
        ))
    } else {
        Box::new(buffered)
    };
    for r in rows {
        if columns.is_empty() {
            if let Some(raw) = r.first().and_then(|v| v.as_str()) {
                out.write_all(raw.as_bytes())?;
            }
        } else {
            let mut o = Object::default();
            for (c, v) in columns.iter().zip(r.iter().skip(1)) {
                o.insert(c.into(), v.clone());
            }
            serde_json::to_writer(&mut out, &o).map_err(Error::internal)?;
        }
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// The errors of one file for `RETURN SUMMARY`: per message, how many lines
/// and the first of their line numbers.
#[derive(Default)]
struct FileErrors {
    by_message: BTreeMap<String, (i64, Vec<i64>)>,
    count: i64,
}

impl FileErrors {
    /// Line numbers kept per message: enough to find the lines, bounded
    /// however many fail.
    const LINES_KEPT: usize = 50;

    fn add(&mut self, message: String, line: usize) {
        let entry = self.by_message.entry(message).or_default();
        entry.0 += 1;
        if line > 0 && entry.1.len() < Self::LINES_KEPT {
            entry.1.push(line as i64);
        }
        self.count += 1;
    }

    fn into_value(self) -> Value {
        let mut out = Object::default();
        for (msg, (count, lines)) in self.by_message {
            let mut detail = Object::default();
            detail.insert("count".into(), Value::Int(count));
            detail.insert(
                "line_numbers".into(),
                Value::Array(lines.into_iter().map(Value::Int).collect()),
            );
            out.insert(msg.into(), Value::Object(Box::new(detail)));
        }
        Value::Object(Box::new(out))
    }
}

fn constant_text(e: &sqlparser::ast::Expr, ctx: &EvalCtx) -> Result<String> {
    let empty = crate::planner::PlanCtx::empty();
    let mut b = crate::planner::bind::Binder::new(&empty, crate::planner::bind::Relation::None);
    match b.bind(e)?.eval(&[], ctx)? {
        Value::Text(s) => Ok(s),
        other => Err(Error::InvalidArgument(format!(
            "COPY needs a text URI or path, got {}",
            crate::types::cast::literal(&other)
        ))),
    }
}
