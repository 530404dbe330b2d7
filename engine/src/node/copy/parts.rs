//! Which node does what for a COPY statement, and the merged answer.
//!
//! `COPY FROM` runs on every node (CrateDB's default), or on those whose
//! name and id match `node_filters` (regular expressions, as CrateDB's),
//! at most `num_readers` of them; with `shared = true` the nodes see the
//! same files and split them, each file read once. `COPY TO` runs on the
//! nodes holding the shards: each shard is exported by its primary's node
//! (another started copy's while it has none), so the files land where the
//! data is. The parts run at once; the statement answers the sum of their
//! row counts and, with `RETURN SUMMARY`, every node's file rows in member
//! order. A part that fails fails the statement, as a query that cannot
//! reach a shard does: never a silently partial count.

use std::collections::BTreeMap;

use regex::Regex;

use crate::error::{Error, Result};
use crate::exec::{Cluster, CopyRole};
use crate::expr::EvalCtx;
use crate::node::{Node, QueryResult, Session, constant};
use crate::request::{CopyOptions, CopyOutcome, CopyPart, CopyTask, FileShare, ShardId};
use crate::sql::ast::{Copy, CopyDirection};
use crate::types::{DataType, Value};

/// The statement's `WITH` options: those its parts need, and those that
/// choose the nodes.
struct Options {
    part: CopyOptions,
    shared: bool,
    node_filters: Option<NodeFilters>,
    num_readers: Option<usize>,
}

/// `node_filters = {name = '...', id = '...'}`: the nodes whose name and
/// id the expressions match in full.
struct NodeFilters {
    name: Option<Regex>,
    id: Option<Regex>,
}

impl NodeFilters {
    fn admits(&self, id: &str, name: &str) -> bool {
        self.name.as_ref().is_none_or(|r| r.is_match(name))
            && self.id.as_ref().is_none_or(|r| r.is_match(id))
    }
}

/// A node taking part: its id and name.
struct Participant {
    id: String,
    name: String,
}

impl Node {
    /// Runs a COPY statement on the nodes it concerns.
    pub(in crate::node) async fn copy(
        &self,
        session: &Session,
        copy: &Copy,
        ctx: EvalCtx,
    ) -> Result<QueryResult> {
        let table = self.resolve_user_table(session, &copy.table)?;
        let opts = options(&copy.with, &ctx)?;
        let part = |task: CopyTask| CopyPart {
            table: table.ident.clone(),
            uuid: table.uuid.clone(),
            columns: copy.columns.clone(),
            options: opts.part.clone(),
            task,
            ctx: ctx.clone(),
        };
        match &copy.direction {
            CopyDirection::From {
                uri,
                return_summary,
            } => {
                let uri = constant_text(uri, &ctx)?;
                let readers = self.readers(&opts)?;
                let of = readers.len();
                let parts = readers.into_iter().enumerate().map(|(index, p)| {
                    let share = opts.shared.then_some(FileShare { index, of });
                    let task = CopyTask::From {
                        uri: uri.clone(),
                        share,
                        summary: *return_summary,
                    };
                    (p.id, part(task))
                });
                let outcomes = self.run_parts(parts.collect(), &ctx).await?;
                imported(outcomes, *return_summary)
            }
            CopyDirection::To {
                directory,
                selection,
            } => {
                let directory = constant_text(directory, &ctx)?;
                let selection = selection.as_ref().map(|s| s.to_string());
                let mut by_node: BTreeMap<String, Vec<u32>> = BTreeMap::new();
                for shard in 0..table.num_shards {
                    let id = ShardId {
                        table: table.ident.clone(),
                        uuid: table.uuid.clone(),
                        shard,
                    };
                    let holder = self
                        .locate(&id, CopyRole::Primary)
                        .or_else(|_| self.locate(&id, CopyRole::Any))?;
                    if let Some(node) = holder.into_iter().next() {
                        by_node.entry(node).or_default().push(shard);
                    }
                }
                let parts = by_node.into_iter().map(|(node, shards)| {
                    let task = CopyTask::To {
                        directory: directory.clone(),
                        selection: selection.clone(),
                        shards,
                    };
                    (node, part(task))
                });
                let mut rows = 0;
                for outcome in self.run_parts(parts.collect(), &ctx).await? {
                    if let CopyOutcome::Exported { rows: n } = outcome {
                        rows += n;
                    }
                }
                Ok(QueryResult::affected(rows))
            }
        }
    }

    /// The nodes that read files for a COPY FROM, in member order.
    fn readers(&self, opts: &Options) -> Result<Vec<Participant>> {
        let mut nodes: Vec<Participant> = match self.coordinator() {
            Some(_) => {
                let followed = self.followed();
                followed
                    .state
                    .members
                    .values()
                    .map(|m| Participant {
                        id: m.node_id.clone(),
                        name: m.name.clone(),
                    })
                    .collect()
            }
            None => vec![Participant {
                id: self.id.clone(),
                name: self.config.node_name.clone(),
            }],
        };
        if let Some(filters) = &opts.node_filters {
            nodes.retain(|p| filters.admits(&p.id, &p.name));
        }
        if let Some(n) = opts.num_readers {
            nodes.truncate(n);
        }
        if nodes.is_empty() {
            return Err(Error::InvalidArgument(
                "No node matches the COPY FROM node_filters".into(),
            ));
        }
        Ok(nodes)
    }

    /// Runs each part on its node at once; the outcomes in the parts'
    /// order, or the first part's error.
    async fn run_parts(
        &self,
        parts: Vec<(String, CopyPart)>,
        ctx: &EvalCtx,
    ) -> Result<Vec<CopyOutcome>> {
        let runs = parts.into_iter().map(|(node, part)| async move {
            if node == self.id {
                return self.run_copy_part(part, Some(ctx.memory.clone())).await;
            }
            let coordinator = self.coordinator().ok_or_else(|| {
                Error::internal("a COPY part for another node on a node without a cluster")
            })?;
            coordinator.send_copy(&node, part).await
        });
        futures::future::join_all(runs).await.into_iter().collect()
    }
}

/// The answer to a COPY FROM: the rows imported, or the summary rows.
fn imported(outcomes: Vec<CopyOutcome>, summary: bool) -> Result<QueryResult> {
    let mut total = 0;
    let mut rows = Vec::new();
    for outcome in outcomes {
        if let CopyOutcome::Imported { rows: n, summary } = outcome {
            total += n;
            rows.extend(summary);
        }
    }
    if !summary {
        return Ok(QueryResult::affected(total));
    }
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

fn options(with: &[(String, sqlparser::ast::Expr)], ctx: &EvalCtx) -> Result<Options> {
    let mut o = Options {
        part: CopyOptions::default(),
        shared: false,
        node_filters: None,
        num_readers: None,
    };
    for (k, v) in with {
        let text = crate::sql::expr_text(v);
        match k.as_str() {
            "format" => o.part.format = Some(text.to_lowercase()),
            "compression" => o.part.compression = Some(text.to_lowercase()),
            "overwrite_duplicates" => o.part.overwrite_duplicates = text == "true",
            "overwrite" => o.part.overwrite_files = text == "true",
            "shared" => o.shared = text == "true",
            "num_readers" => {
                let n = text.parse::<usize>().ok().filter(|n| *n > 0);
                o.num_readers = Some(n.ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "num_readers must be a positive integer, got {text}"
                    ))
                })?);
            }
            "node_filters" => o.node_filters = Some(node_filters(v, ctx)?),
            "bulk_size"
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

fn node_filters(e: &sqlparser::ast::Expr, ctx: &EvalCtx) -> Result<NodeFilters> {
    let Value::Object(filters) = constant(e, ctx)? else {
        return Err(Error::InvalidArgument(
            "node_filters must be an object such as {name = 'node-.*'}".into(),
        ));
    };
    let mut out = NodeFilters {
        name: None,
        id: None,
    };
    for (key, value) in filters.iter() {
        let Value::Text(pattern) = value else {
            return Err(Error::InvalidArgument(format!(
                "node_filters.{key} must be a text (a regular expression)"
            )));
        };
        let regex = Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            Error::InvalidArgument(format!("node_filters.{key} is not a valid pattern: {e}"))
        })?;
        match key.as_ref() {
            "name" => out.name = Some(regex),
            "id" => out.id = Some(regex),
            other => {
                return Err(Error::InvalidArgument(format!(
                    "Invalid node filter: {other} (use name or id)"
                )));
            }
        }
    }
    Ok(out)
}

fn constant_text(e: &sqlparser::ast::Expr, ctx: &EvalCtx) -> Result<String> {
    match constant(e, ctx)? {
        Value::Text(s) => Ok(s),
        other => Err(Error::InvalidArgument(format!(
            "COPY needs a text URI or path, got {}",
            crate::types::cast::literal(&other)
        ))),
    }
}
