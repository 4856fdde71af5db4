//! SNS: topics, subscriptions with filter policies, and durable deliveries to queues, HTTP
//! endpoints and email (SMTP, or a local outbox when none is configured).

pub mod delivery;
pub mod mail;
pub mod model;
pub mod publish;
pub mod signing;
pub mod subscriptions;
pub mod topics;

use crate::store::ChangeLock;
use crate::store::Store;
use model::Delivery;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedSender;

/// An API error: the query protocol's error code (`NotFound`, `InvalidParameter`, ...), the
/// HTTP status and the message.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct SnsError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

impl SnsError {
    pub fn invalid(message: impl Into<String>) -> SnsError {
        SnsError {
            code: "InvalidParameter",
            status: 400,
            message: format!("Invalid parameter: {}", message.into()),
        }
    }

    pub fn not_found(message: impl Into<String>) -> SnsError {
        SnsError {
            code: "NotFound",
            status: 404,
            message: message.into(),
        }
    }

    pub fn internal(message: impl std::fmt::Display) -> SnsError {
        SnsError {
            code: "InternalError",
            status: 500,
            message: message.to_string(),
        }
    }
}

impl From<crate::store::StoreError> for SnsError {
    fn from(e: crate::store::StoreError) -> SnsError {
        SnsError::internal(e)
    }
}

pub type Result<T, E = SnsError> = std::result::Result<T, E>;

pub struct Sns {
    /// The change lock (see [`ChangeLock`]) of topics and subscriptions (an attribute, a tag,
    /// one subscription per endpoint).
    changes: ChangeLock,
    pub store: Arc<dyn Store>,
    pub sqs: Arc<crate::sqs::Sqs>,
    pub mail: mail::Mailer,
    /// This server's URL, for the confirm and unsubscribe links SNS sends.
    pub base_url: String,
    /// Multiplies retry delays (`serve --wait-scale`).
    pub wait_scale: f64,
    pub(crate) tx: UnboundedSender<Delivery>,
    /// Functions subscribed with the `lambda` protocol (Lambda holds this service, so weakly).
    pub(crate) lambda: std::sync::OnceLock<std::sync::Weak<crate::lambda::Lambda>>,
    /// AWS/SNS metrics.
    pub metrics: crate::metrics::Link,
    /// Signs notifications and confirmations (`SignatureVersion`, `SigningCertURL`).
    pub signer: signing::Signer,
}

impl Sns {
    /// Connects the function service for `lambda` subscriptions.
    pub fn set_lambda(&self, lambda: std::sync::Weak<crate::lambda::Lambda>) {
        let _ = self.lambda.set(lambda);
    }

    /// Opens the service and resumes the deliveries a previous run left in flight.
    pub fn start(
        store: Arc<dyn Store>,
        sqs: Arc<crate::sqs::Sqs>,
        mail: mail::Mailer,
        base_url: String,
        wait_scale: f64,
        data: &std::path::Path,
    ) -> Result<Arc<Sns>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let sns = Arc::new(Sns {
            changes: ChangeLock::default(),
            store,
            sqs,
            mail,
            base_url,
            wait_scale,
            tx,
            lambda: std::sync::OnceLock::new(),
            metrics: Default::default(),
            signer: signing::Signer::new(data),
        });
        let pending = sns.pending_deliveries()?;
        delivery::spawn(&sns, rx, pending);
        Ok(sns)
    }
}

/// The scope and `TopicName` dimension of a topic ARN, for its metrics.
pub(crate) fn topic_scope(arn: &str) -> (crate::sfn::arn::Scope, String) {
    let name = arn.split(':').nth(5).unwrap_or_default().to_string();
    (crate::sfn::arn::Scope::of_arn(arn), name)
}
