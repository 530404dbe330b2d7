//! `COPY t FROM 'uri'` and `COPY t TO DIRECTORY 'path'`: bulk import from
//! and export to files on the nodes' file systems, as CrateDB does.
//!
//! The statement runs where the files and the data are ([`parts`]): every
//! node reads the files its own file system has under the URI (with
//! `shared = true` each file once, by one node; `node_filters` and
//! `num_readers` choose the nodes), and every node exports the shards it
//! holds into its own directory. This module runs one node's part.
//!
//! Import reads JSON lines (default) or CSV with a header from every file
//! matching the URI (`file:///path/*.json` or a plain path; `*` globs in the
//! file name), streamed in batches ([`reader`]). Rows go through the normal
//! write path, so they are typed, validated and may add columns; rows that
//! fail are counted as errors and skipped. `RETURN SUMMARY` reports per
//! node and file. Export writes one file of JSON lines per shard
//! (`<table>_<shard>_.json[.gz]`) from the last refresh. Which files COPY may
//! touch at all is decided in [`files`].
//!
//! The simulator has no real file system: this module is not built under
//! madsim, where COPY is refused.

mod files;
mod parts;
mod reader;

pub use files::CopyRoots;

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Node;
use crate::breaker::MemoryAccount;
use crate::catalog::TableInfo;
use crate::error::{Error, Result};
use crate::expr::EvalCtx;
use crate::request::{CopyOptions, CopyOutcome, CopyPart, CopyTask, FileShare};
use crate::types::{Object, Value};

impl Node {
    /// Runs this node's part of a COPY statement. `memory` is the
    /// statement's account when the part runs on the handling node; a part
    /// sent from another node is accounted on this node's breaker.
    pub(in crate::node) async fn run_copy_part(
        &self,
        part: CopyPart,
        memory: Option<Arc<MemoryAccount>>,
    ) -> Result<CopyOutcome> {
        let CopyPart {
            table,
            uuid,
            columns,
            options,
            task,
            mut ctx,
        } = part;
        ctx.memory = memory.unwrap_or_else(|| self.breakers.statement());
        let info = self
            .catalog()
            .table(&table)
            .filter(|t| t.uuid == uuid)
            .cloned()
            .ok_or_else(|| Error::RelationUnknown(table.to_string()))?;
        match task {
            CopyTask::From {
                uri,
                share,
                summary,
            } => {
                let outcome = self
                    .copy_from(info, &columns, &uri, share, &options, summary, ctx)
                    .await?;
                if let CopyOutcome::Imported { rows, .. } = &outcome {
                    tracing::info!(%table, %uri, rows, "COPY FROM imported this node's files");
                }
                Ok(outcome)
            }
            CopyTask::To {
                directory,
                selection,
                shards,
            } => {
                let rows = self
                    .copy_to(
                        &info, &columns, &directory, selection, &shards, &options, ctx,
                    )
                    .await?;
                tracing::info!(%table, ?shards, rows, %directory, "COPY TO exported shards");
                Ok(CopyOutcome::Exported { rows })
            }
        }
    }

    /// Imports this node's files.
    #[allow(clippy::too_many_arguments)]
    async fn copy_from(
        &self,
        table: Arc<TableInfo>,
        columns: &[String],
        uri: &str,
        share: Option<FileShare>,
        opts: &CopyOptions,
        summary: bool,
        ctx: EvalCtx,
    ) -> Result<CopyOutcome> {
        let conflict = opts
            .overwrite_duplicates
            .then_some(crate::planner::dml::ConflictPlan::Overwrite);
        let mut total = 0i64;
        let mut summary_rows = Vec::new();
        for (file_name, opened) in self.copy_roots.sources(uri, share)? {
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
            return Ok(CopyOutcome::Imported {
                rows: total,
                summary: Vec::new(),
            });
        }
        let node = self.node_object();
        let summary = summary_rows
            .into_iter()
            .map(|(uri, ok, err, errors)| vec![node.clone(), Value::Text(uri), ok, err, errors])
            .collect();
        Ok(CopyOutcome::Imported {
            rows: total,
            summary,
        })
    }

    /// Exports `shards` of the table, each from the copy this node holds
    /// (or, when it has just moved away, from another), one file each.
    #[allow(clippy::too_many_arguments)]
    async fn copy_to(
        &self,
        table: &TableInfo,
        columns: &[String],
        dir: &str,
        selection: Option<String>,
        shards: &[u32],
        opts: &CopyOptions,
        ctx: EvalCtx,
    ) -> Result<i64> {
        let target = Arc::new(self.copy_roots.target_dir(dir)?);
        let gzip = opts.compression.as_deref() == Some("gzip");
        let cols = if columns.is_empty() {
            "*".to_string()
        } else {
            columns.join(", ")
        };
        let filter = selection.map(|s| format!(" WHERE {s}")).unwrap_or_default();
        let sql = format!(
            "SELECT _raw, {cols} FROM \"{}\".\"{}\"{filter}",
            table.ident.schema, table.ident.name
        );
        let crate::sql::ast::Statement::Query(q) = crate::sql::parse_one(&sql)? else {
            return Err(Error::internal("COPY TO's query is not a query"));
        };
        let (plan, subqueries) = {
            let catalog = self.catalog();
            let pctx = crate::planner::PlanCtx::with_catalog(&catalog, &ctx.current_schema);
            let plan = crate::planner::select::plan_query(&pctx, &q)?;
            (plan, pctx.take_subqueries())
        };
        let ctx = crate::exec::with_subqueries(self, ctx.clone(), &subqueries).await?;
        let ctx = &ctx;
        let mut total = 0i64;
        for &shard in shards {
            let rows = crate::exec::Executor::new(self, ctx.clone())
                .shard_rows(&plan, table, shard)
                .await?;
            let name = format!(
                "{}_{shard}_.json{}",
                table.ident.name,
                if gzip { ".gz" } else { "" }
            );
            let count = rows.len() as i64;
            let columns = columns.to_vec();
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
        Ok(total)
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
