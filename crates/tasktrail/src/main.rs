use clap::Parser;
use tasktrail::config::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => tasktrail::embedded::run(args).await,
        Command::Migrate(args) => tasktrail::embedded::migrate(args).await,
        Command::Bench(args) => bench::run(args).await,
    }
}
