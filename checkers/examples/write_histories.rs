//! Writes the benchmark histories as `history.jsonl` files, so that the release `faultline
//! check` can be timed on them: `cargo run --release -p faultline-checkers --example
//! write_histories -- DIR [TXNS]`.
//!
//! Files: `list-append-1m.jsonl` (strictly serializable), `list-append-1m-g-single.jsonl`
//! (the same with one stale read planted), `rw-register-1m.jsonl`, `cas-register-1m.jsonl`
//! (100 keys, 1% crashed) and `cas-register-1m-stale.jsonl`.

use std::fs::File;
use std::path::Path;

use faultline_checkers::elle::gen::{self, Inject};
use faultline_checkers::format::jsonl::write_history;
use faultline_checkers::History;

fn write(dir: &Path, name: &str, history: &History) {
    let path = dir.join(name);
    let file = File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    write_history(history, file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    println!("wrote {} ({} ops)", path.display(), history.ops.len());
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: write_histories DIR [TXNS]");
    let txns: usize = args.next().map_or(1_000_000, |t| t.parse().expect("TXNS"));
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("the output directory");
    let config = gen::bench_config(txns);
    let mut history = gen::list_append(&config);
    write(dir, "list-append-1m.jsonl", &history);
    gen::inject(&mut history, Inject::StaleRead, 1).expect("a place for a stale read");
    write(dir, "list-append-1m-g-single.jsonl", &history);
    drop(history);
    write(dir, "rw-register-1m.jsonl", &gen::rw_register(&config));
    for stale_read in [false, true] {
        let large = faultline_checkers::gen::Large {
            ops: txns,
            stale_read,
            ..Default::default()
        };
        let g = faultline_checkers::gen::large(7, &large);
        let name = match stale_read {
            false => "cas-register-1m.jsonl",
            true => "cas-register-1m-stale.jsonl",
        };
        write(dir, name, &g.history);
    }
}
