//! `sigma_eval RULES EVENTS [--logsource-fields MAP] [--threads N]`: the loop of
//! `rampart rules eval` (`rampart_detect::batch::eval_lines`) in a small
//! release binary, so `cargo xtask bench detect` can time the engine
//! without building the whole node. Prints one JSON object: rules, events,
//! matches, compile and evaluation time, matches by rule id.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use rampart_detect::batch::{LogsourceFields, eval_lines};
use rampart_detect::{CompileOptions, LogSource, RuleSetBuilder};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sigma_eval: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut positional, mut fields, mut threads) = (Vec::new(), None, 0);
    while let Some(a) = args.next() {
        if a == "--threads" {
            threads = args.next().ok_or("--threads needs a value")?.parse()?;
        } else if a == "--logsource-fields" {
            fields = Some(LogsourceFields::parse(&args.next().ok_or("--logsource-fields needs a value")?)?);
        } else {
            positional.push(PathBuf::from(a));
        }
    }
    let [rules, events] = positional.as_slice() else {
        return Err(
            "usage: sigma_eval RULES EVENTS [--logsource-fields product=F,service=F,category=F] [--threads N]".into()
        );
    };
    let started = Instant::now();
    let mut builder = RuleSetBuilder::new(CompileOptions::default());
    builder.add_dir(rules);
    let (set, rejected) = builder.build();
    let compile_ms = started.elapsed().as_secs_f64() * 1000.0;
    let input = BufReader::with_capacity(1 << 20, std::fs::File::open(events)?);
    let started = Instant::now();
    let any = LogSource::any();
    let threads = rampart_detect::parallel::threads(threads);
    let counts = eval_lines(&set, input, threads, |v, _| {
        let ls = fields.as_ref().map_or_else(|| any.clone(), |f| f.logsource(&v));
        (v, ls)
    })?;
    let eval_secs = started.elapsed().as_secs_f64();
    let report = serde_json::json!({
        "rules": set.len(),
        "rejected": rejected.len(),
        "events": counts.events,
        "matches": counts.matches,
        "compile_ms": compile_ms,
        "eval_ms": eval_secs * 1000.0,
        "threads": threads,
        "events_per_sec": if eval_secs > 0.0 { counts.events as f64 / eval_secs } else { 0.0 },
        "by_rule": counts.by_rule_id(&set),
    });
    println!("{report}");
    Ok(())
}
