use anyhow::Result;
use clap::{Parser, Subcommand};

/// rollgate: staged, gated rollouts of code and configuration.
#[derive(Parser)]
#[command(name = "rollgate", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML.
    Crds,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Crds => print!("{}", rollgate::api::crds_yaml()),
    }
    Ok(())
}
