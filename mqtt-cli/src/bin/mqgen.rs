//! `mqgen`: shell completions and man pages for `mqpub` and `mqsub`, generated from their
//! clap definition (`mqtt_cli::cli::command`; the man pages add the sections of
//! `mqtt_cli::man`: output format, exit status, environment, files...).
//!
//! ```text
//! mqgen completions bash|zsh|fish|elvish|powershell mqpub|mqsub   > completion script
//! mqgen man mqpub|mqsub                                          > roff man page
//! ```

use std::io::Write;
use std::process::ExitCode;

use clap_complete::Shell;
use mqtt_cli::args::Tool;

fn tool(name: &str) -> Option<Tool> {
    match name {
        "mqpub" => Some(Tool::Pub),
        "mqsub" => Some(Tool::Sub),
        _ => None,
    }
}

fn usage() -> ExitCode {
    let _ = writeln!(
        std::io::stderr(),
        "Usage: mqgen completions <bash|zsh|fish|elvish|powershell> <mqpub|mqsub>\n       mqgen man <mqpub|mqsub>"
    );
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut out = std::io::stdout().lock();
    match args.as_slice() {
        ["completions", shell, name] => {
            let (Ok(shell), Some(t)) = (shell.parse::<Shell>(), tool(name)) else {
                return usage();
            };
            let mut cmd = mqtt_cli::cli::command(t);
            clap_complete::generate(shell, &mut cmd, t.name(), &mut out);
        }
        ["man", name] => {
            let Some(t) = tool(name) else {
                return usage();
            };
            if let Err(e) = mqtt_cli::man::render(t, &mut out) {
                let _ = writeln!(std::io::stderr(), "Error: {e}");
                return ExitCode::from(1);
            }
        }
        _ => return usage(),
    }
    let _ = out.flush();
    ExitCode::SUCCESS
}
