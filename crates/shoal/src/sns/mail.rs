//! Email for the `email` and `email-json` protocols: sent through the SMTP server that
//! `serve --smtp` names (TLS and credentials as its URL says), or kept in a local outbox that
//! `shoal mail` lists when there is none.

use super::model::Mail;
use crate::store::{put, Store};
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;

pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: String,
    },
    Outbox {
        store: Arc<dyn Store>,
        from: String,
    },
}

impl Mailer {
    /// A mailer for `url` (`smtp://host:port` plain, `smtp://…?tls=required` for STARTTLS,
    /// `smtps://host:port` for TLS, `user:password@` for credentials), or the outbox.
    pub fn new(url: Option<&str>, from: &str, store: Arc<dyn Store>) -> Result<Mailer, String> {
        from.parse::<lettre::message::Mailbox>()
            .map_err(|e| format!("--smtp-from '{from}' is not an email address: {e}"))?;
        Ok(match url {
            Some(u) => Mailer::Smtp {
                transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(u)
                    .map_err(|e| format!("--smtp '{u}' is not a usable SMTP URL: {e}"))?
                    .build(),
                from: from.into(),
            },
            None => Mailer::Outbox {
                store,
                from: from.into(),
            },
        })
    }

    /// Sends one plain-text email; an error is worth retrying.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), String> {
        match self {
            Mailer::Smtp { transport, from } => {
                let m = Message::builder()
                    .from(from.parse().map_err(|e| format!("bad sender: {e}"))?)
                    .to(to
                        .parse()
                        .map_err(|e| format!("bad recipient '{to}': {e}"))?)
                    .subject(subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(body.to_string())
                    .map_err(|e| e.to_string())?;
                transport
                    .send(m)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("SMTP: {e}"))
            }
            Mailer::Outbox { store, from } => {
                let mail = Mail {
                    id: uuid::Uuid::new_v4().to_string(),
                    to: to.into(),
                    from: from.clone(),
                    subject: subject.into(),
                    body: body.into(),
                    at: chrono::Utc::now(),
                };
                store
                    .commit(vec![put(&mail)])
                    .done()
                    .await
                    .map_err(|e| e.to_string())
            }
        }
    }
}

impl super::Sns {
    /// The email outbox, oldest first.
    pub fn outbox(&self) -> super::Result<Vec<Mail>> {
        use crate::store::{Records, Scan};
        Ok(self.store.list(Scan::default())?)
    }
}
