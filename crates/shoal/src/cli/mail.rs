//! `shoal mail`: the email a server kept in its outbox because it has no SMTP server.

use super::client::{Client, ServerArgs};
use anyhow::Result;
use clap::Args;
use std::process::ExitCode;

#[derive(Args, Debug)]
pub struct MailArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Only mail to this address.
    #[arg(long)]
    to: Option<String>,
    /// Print the outbox as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: MailArgs) -> Result<ExitCode> {
    let c = Client::new(a.server);
    let out = c.shoal("/_shoal/mail", None)?;
    let mail: Vec<&serde_json::Value> = out["mail"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| a.to.as_deref().is_none_or(|t| m["to"] == t))
        .collect();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&mail)?);
        return Ok(ExitCode::SUCCESS);
    }
    if mail.is_empty() {
        println!("(the outbox is empty)");
    }
    for m in mail {
        let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
        println!(
            "Date: {}\nFrom: {}\nTo: {}\nSubject: {}\n\n{}\n",
            s("at"),
            s("from"),
            s("to"),
            s("subject"),
            s("body")
        );
    }
    Ok(ExitCode::SUCCESS)
}
