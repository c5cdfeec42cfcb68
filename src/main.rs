use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // A panic is a bug in rez-db: the contract says exit 255, not Rust's 101.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        eprintln!("this is a bug in rez-db; please report it with the command you ran");
        std::process::exit(255);
    }));

    let cli = match rez_db::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return rez_db::cli::refuse_arguments(e),
    };
    let level = ["warn", "info", "debug", "trace"][usize::from(cli.global.verbose.min(3))];
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level)),
        )
        // Log lines go out redacted, like every other message.
        .with_writer(|| rez_db::secret::Redacting(std::io::stderr()))
        .init();

    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            let code = runtime.block_on(rez_db::run(cli));
            // Dropping the runtime would wait for blocking threads (a backup
            // hashing its files) to finish: after Ctrl-C, give them a second.
            // What they leave half-done is recognisable (no manifest).
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            code
        }
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(255)
        }
    }
}
