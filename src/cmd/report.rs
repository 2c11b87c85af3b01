//! `faultline report RUN_DIR`: re-renders a run directory's report (`report.html`, the plots,
//! `junit.xml`) from its stored `history.jsonl` and `results.json`, without re-checking. The
//! exit code is the stored verdict's, so a CI job can gate on a re-render too.

use std::path::PathBuf;

use clap::Args;

use crate::exit::Code;
use crate::report;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A run directory (holding history.jsonl and results.json), or a `latest` link to one.
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
}

pub fn execute(args: ReportArgs) -> anyhow::Result<Code> {
    let outputs = report::rerender(&args.run_dir)?;
    crate::outln!(
        "{}: {} (report: {})",
        args.run_dir.display(),
        outputs.verdict,
        outputs.report_html.display()
    );
    Ok(outputs.code)
}
