//! `mqbench`: load for any MQTT broker. See the README (`mqbench --help` for the options).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use mqbench::{Cli, EXIT_FAILURE};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let limit = mqbench::raise_file_limit();
    let needed = u64::from(cli.clients) + u64::from(cli.sub_clients) + 64;
    let quiet = cli.quiet;
    #[allow(clippy::print_stderr)]
    if limit < needed && !quiet {
        eprintln!(
            "mqbench: warning: the open file limit is {limit}, fewer than {needed} needed \
             (raise the hard limit: ulimit -Hn)"
        );
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(mqbench::run(cli, |line| {
        if !quiet {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{line}");
        }
    }));
    // Connection tasks may still be closing: do not wait for them.
    runtime.shutdown_background();
    match result {
        Ok(outcome) => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(outcome.summary.as_bytes());
            let _ = out.flush();
            ExitCode::from(outcome.code)
        }
        Err(e) => fail(&e.0),
    }
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr().lock(), "mqbench: {message}");
    ExitCode::from(EXIT_FAILURE)
}
