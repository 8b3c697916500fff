use clap::Parser;
use tasktrail::config::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Serve(args) => tasktrail::embedded::run(args).await,
        Command::Api(args) => tasktrail::distributed::run_api(args).await,
        Command::Audit(args) => tasktrail::distributed::run_audit(args).await,
        Command::Notify(args) => tasktrail::distributed::run_notify(args).await,
        Command::Migrate(args) => tasktrail::embedded::migrate(args).await,
        Command::Bench(args) => bench::run(args).await,
    }
}
