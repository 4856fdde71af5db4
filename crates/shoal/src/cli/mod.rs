//! Command-line interface: parses arguments and dispatches to the subcommands.

mod asl;
mod bus;
mod client;
mod events;
mod logs;
mod mail;
mod schedule;
mod serve;
mod sfn;
mod sql;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// shoal runs the serverless system data engineers build on AWS — Step Functions first —
/// locally, from the definitions they already have.
#[derive(Parser, Debug)]
#[command(name = "shoal", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Amazon States Language: validate definitions and run executions in process.
    #[command(subcommand)]
    Asl(asl::AslCommand),
    /// EventBridge: test patterns and transformers offline; put, tail and list on a server.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// The server's schedule clock; under `serve --virtual-clock`, `advance` moves it.
    Clock(bus::ClockArgs),
    /// CloudWatch Logs on a running server: `tail GROUP [--follow]`, `query GROUP... -q TEXT`.
    #[command(subcommand)]
    Logs(logs::LogsCommand),
    /// The email SNS would have sent, kept in the server's outbox when `serve` has no `--smtp`.
    Mail(mail::MailArgs),
    /// EventBridge schedule expressions: validate them and list their next fire times.
    #[command(subcommand)]
    Schedule(schedule::ScheduleCommand),
    /// Run the AWS-compatible server (Step Functions, EventBridge) with durable executions.
    Serve(serve::ServeArgs),
    /// Step Functions on a running server: create, start, describe, history, redrive, list.
    Sfn(sfn::SfnArgs),
    /// SQL over the Glue Data Catalog of a running server.
    Sql(sql::SqlArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Asl(c) => asl::run(c),
        Command::Schedule(c) => schedule::run(c),
        Command::Events(c) => events::run(c),
        Command::Clock(a) => bus::clock(a),
        Command::Mail(a) => mail::run(a),
        Command::Logs(c) => logs::run(c),
        Command::Serve(a) => serve::run(a),
        Command::Sfn(a) => sfn::run(a),
        Command::Sql(a) => sql::run(a),
    }
}
