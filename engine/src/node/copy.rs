//! `COPY t FROM 'uri'` and `COPY t TO DIRECTORY 'path'`: bulk import from
//! and export to files on the node's file system, as CrateDB does.
//!
//! Import reads JSON lines (default) or CSV with a header from every file
//! matching the URI (`file:///path/*.json` or a plain path; `*` globs in the
//! file name). Rows go through the normal write path, so they are typed,
//! validated and may add columns; rows that fail are counted as errors and
//! skipped. `RETURN SUMMARY` reports per file. Export writes one file of JSON
//! lines per shard (`<table>_<shard>_.json[.gz]`) from the last refresh.
//!
//! The simulator has no real file system: this module is not built under
//! madsim, where COPY is refused.

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
    overwrite: bool,
}

fn options(with: &[(String, sqlparser::ast::Expr)]) -> Result<CopyOptions> {
    let mut o = CopyOptions {
        format: None,
        compression: None,
        overwrite: false,
    };
    for (k, v) in with {
        let text = crate::sql::expr_text(v);
        match k.as_str() {
            "format" => o.format = Some(text.to_lowercase()),
            "compression" => o.compression = Some(text.to_lowercase()),
            "overwrite_duplicates" => o.overwrite = text == "true",
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

/// The files a URI names: a path, optionally with `*` in the file name.
fn expand(uri: &str) -> Result<Vec<String>> {
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    if !path.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "COPY needs an absolute file path or file:// URI, got '{uri}'"
        )));
    }
    let (dir, pattern) = path.rsplit_once('/').unwrap_or(("", path));
    let dir = if dir.is_empty() { "/" } else { dir };
    if !pattern.contains('*') {
        return Ok(vec![path.to_string()]);
    }
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if glob_match(pattern, &name) && e.path().is_file() {
                out.push(format!("{}/{name}", dir.trim_end_matches('/')));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = name;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

/// Parses a file's rows; `Err` entries keep their line for the summary.
fn parse_rows(text: &str, csv: bool, columns: &[String]) -> Vec<(usize, Result<Object>)> {
    let mut out = Vec::new();
    if csv {
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((_, header)) = lines.next() else {
            return out;
        };
        let names: Vec<String> = split_csv(header);
        for (n, line) in lines {
            let fields = split_csv(line);
            let mut o = Object::default();
            for (k, v) in names.iter().zip(fields) {
                if columns.is_empty() || columns.contains(k) {
                    o.insert(
                        k.into(),
                        if v.is_empty() {
                            Value::Null
                        } else {
                            Value::Text(v)
                        },
                    );
                }
            }
            out.push((n + 1, Ok(o)));
        }
        return out;
    }
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let row = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(o)) => {
                let mut o = *o;
                if !columns.is_empty() {
                    o.retain(|k, _| columns.iter().any(|c| c == k));
                }
                Ok(o)
            }
            Ok(_) => Err(Error::InvalidArgument("JSON line is not an object".into())),
            Err(e) => Err(Error::InvalidArgument(format!("JSON parser error: {e}"))),
        };
        out.push((n + 1, row));
    }
    out
}

/// Splits one CSV line (double quotes, doubled quotes inside).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
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
            .overwrite
            .then_some(crate::planner::dml::ConflictPlan::Overwrite);
        let mut total = 0i64;
        let mut summary_rows = Vec::new();
        for file in expand(uri)? {
            let csv = opts.format.as_deref() == Some("csv") || file.ends_with(".csv");
            let text = match read_file(&file) {
                Ok(t) => t,
                Err(e) => {
                    let mut errors = Object::default();
                    let mut detail = Object::default();
                    detail.insert("count".into(), Value::Int(1));
                    detail.insert("line_numbers".into(), Value::Array(vec![]));
                    errors.insert(
                        format!("{file} ({e})").into(),
                        Value::Object(Box::new(detail)),
                    );
                    summary_rows.push((
                        file.clone(),
                        Value::Null,
                        Value::Null,
                        Value::Object(Box::new(errors)),
                    ));
                    continue;
                }
            };
            let parsed = parse_rows(&text, csv, columns);
            let mut errors: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            let mut raw = Vec::with_capacity(parsed.len());
            let mut lines = Vec::with_capacity(parsed.len());
            for (line, r) in parsed {
                match r {
                    Ok(o) => {
                        raw.push((lines.len(), o));
                        lines.push(line);
                    }
                    Err(e) => errors.entry(e.message()).or_default().push(line as i64),
                }
            }
            let mut results: Vec<Result<i64>> = (0..lines.len()).map(|_| Ok(0)).collect();
            crate::exec::Executor::new(self, ctx.clone())
                .write_rows(table.clone(), raw, conflict.as_ref(), &mut results, true)
                .await?;
            let mut ok = 0i64;
            for (i, r) in results.into_iter().enumerate() {
                match r {
                    Ok(n) => ok += n,
                    // CrateDB keys the summary by the bare message.
                    Err(e) => errors.entry(e.message()).or_default().push(lines[i] as i64),
                }
            }
            total += ok;
            let error_count: i64 = errors.values().map(|v| v.len() as i64).sum();
            let mut err_obj = Object::default();
            for (msg, lines) in errors {
                let mut detail = Object::default();
                detail.insert("count".into(), Value::Int(lines.len() as i64));
                detail.insert(
                    "line_numbers".into(),
                    Value::Array(lines.into_iter().map(Value::Int).collect()),
                );
                err_obj.insert(msg.into(), Value::Object(Box::new(detail)));
            }
            summary_rows.push((
                format!("file://{file}"),
                Value::Int(ok),
                Value::Int(error_count),
                Value::Object(Box::new(err_obj)),
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
        let dir = dir
            .strip_prefix("file://")
            .unwrap_or(dir)
            .trim_end_matches('/')
            .to_string();
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Io(format!("cannot create {dir}: {e}")))?;
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
            let mut out = String::new();
            for r in &rows {
                let line = if copy.columns.is_empty() {
                    r.first()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default()
                } else {
                    let mut o = Object::default();
                    for (c, v) in copy.columns.iter().zip(r.iter().skip(1)) {
                        o.insert(c.into(), v.clone());
                    }
                    serde_json::to_string(&o).map_err(Error::internal)?
                };
                out.push_str(&line);
                out.push('\n');
            }
            let name = format!(
                "{dir}/{}_{shard}_.json{}",
                table.ident.name,
                if gzip { ".gz" } else { "" }
            );
            let bytes = if gzip {
                use std::io::Write;
                let mut enc =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(out.as_bytes())?;
                enc.finish()?
            } else {
                out.into_bytes()
            };
            std::fs::write(&name, bytes)
                .map_err(|e| Error::Io(format!("cannot write {name}: {e}")))?;
            total += rows.len() as i64;
        }
        Ok(QueryResult::affected(total))
    }
}

fn read_file(path: &str) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    if path.ends_with(".gz") {
        use std::io::Read;
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut s)?;
        return Ok(s);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_csv_split() {
        assert!(glob_match("*.json", "a.json"));
        assert!(glob_match("qu*.json", "quotes.json"));
        assert!(!glob_match("qu*.json", "locations.json"));
        assert!(glob_match("*", "x"));
        assert_eq!(split_csv(r#"a,"b,c","d""e""#), vec!["a", "b,c", "d\"e"]);
    }
}
