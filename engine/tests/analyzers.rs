//! Goldenscript tests of the analyzers, one file per group under
//! `tests/analysis/`: `> NAME: TEXT` prints the tokens analyzer NAME makes of
//! TEXT, each with its position (`end@1`: a stop word before it left a gap);
//! `> CREATE ANALYZER ...` defines a custom analyzer as the statement does
//! (validated, then usable by name). Regenerate with
//! `UPDATE_GOLDENFILES=1 cargo test --test analyzers`.
#![cfg(not(madsim))]

use std::collections::BTreeMap;
use std::error::Error;

use shoal_engine::analysis::{self, AnalyzerDef};
use shoal_engine::sql::ast::Statement;
use shoal_engine::sql::parse_one;

#[derive(Default)]
struct Runner {
    custom: BTreeMap<String, AnalyzerDef>,
}

impl goldenscript::Runner for Runner {
    type Command = goldenscript::Command;

    fn run(
        &mut self,
        command: &goldenscript::Command,
        _: &goldenscript::Context,
    ) -> Result<String, Box<dyn Error>> {
        let line = command.name.trim();
        if line.to_ascii_uppercase().starts_with("CREATE ANALYZER") {
            let Statement::CreateAnalyzer(def) = parse_one(line)? else {
                return Err("not CREATE ANALYZER".into());
            };
            return Ok(match analysis::validate(&def, &self.custom) {
                Ok(()) => {
                    self.custom.insert(def.name.clone(), *def);
                    "ok\n".into()
                }
                Err(e) => format!("ERROR {}: {e}\n", e.code()),
            });
        }
        let (name, text) = line.split_once(':').ok_or("expected NAME: TEXT")?;
        let text = text.strip_prefix(' ').unwrap_or(text);
        Ok(match analysis::build(name.trim(), &self.custom) {
            Ok(mut a) => {
                let tokens: Vec<String> = analysis::analyze_with_positions(&mut a, text)
                    .into_iter()
                    .map(|(pos, t)| format!("{t}@{pos}"))
                    .collect();
                format!("{}\n", tokens.join(" "))
            }
            Err(e) => format!("ERROR {}: {e}\n", e.code()),
        })
    }
}

macro_rules! script {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() -> std::io::Result<()> {
            goldenscript::run(&mut Runner::default(), concat!("tests/analysis/", stringify!($name)))
        }
    )*};
}

script!(builtins, custom);
