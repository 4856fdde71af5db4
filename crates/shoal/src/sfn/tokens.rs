//! Task tokens: callbacks (SendTaskSuccess/Failure/Heartbeat) and activity workers
//! (GetActivityTask).

use super::error::{Result, SfnError};
use super::executions::MAX_PAYLOAD;
use super::model::{Answer, Token};
use super::Sfn;
use crate::store::{put, Records, Scan};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;

/// How long GetActivityTask waits for a task before answering with none (AWS: 60 s).
pub const ACTIVITY_POLL: Duration = Duration::from_secs(60);

impl Sfn {
    pub fn token(&self, token: &str) -> Result<Option<Token>> {
        Ok(self.store.load::<Token>(token)?)
    }

    /// The token of a task still waiting for its answer.
    fn open_token(&self, token: &str) -> Result<Token> {
        if token.is_empty() || token.len() > 2048 {
            return Err(SfnError::InvalidToken(format!("Invalid Token: '{token}'")));
        }
        let row = self
            .token(token)?
            .ok_or_else(|| SfnError::TaskDoesNotExist("Task Does Not Exist".into()))?;
        if row.status == "DONE" {
            return Err(SfnError::TaskTimedOut(
                "Task Timed Out: 'Provided task does not exist anymore'".into(),
            ));
        }
        // a distributed Map child may have ended (aborted with its failed run) while its
        // parent goes on
        for arn in std::iter::once(&row.execution_arn).chain(&row.child_arn) {
            if self.execution(arn)?.status != "RUNNING" {
                return Err(SfnError::TaskTimedOut(
                    "Task Timed Out: 'Provided task does not exist anymore'".into(),
                ));
            }
        }
        Ok(row)
    }

    pub async fn send_task_success(self: &Arc<Self>, token: &str, output: String) -> Result<()> {
        let _change = self.token_changes.lock().await;
        let row = self.open_token(token)?;
        if output.len() > MAX_PAYLOAD {
            return Err(SfnError::InvalidOutput(
                "Invalid Output: 'the output is above the 262144-byte limit'".into(),
            ));
        }
        let value = serde_json::from_str(&output)
            .map_err(|e| SfnError::InvalidOutput(format!("Invalid Output: '{e}'")))?;
        self.answer(row, Answer::Success(value)).await
    }

    pub async fn send_task_failure(
        self: &Arc<Self>,
        token: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<()> {
        let _change = self.token_changes.lock().await;
        let row = self.open_token(token)?;
        self.answer(
            row,
            Answer::Failure {
                error: error.unwrap_or_default(),
                cause: cause.unwrap_or_default(),
            },
        )
        .await
    }

    pub async fn send_task_heartbeat(self: &Arc<Self>, token: &str) -> Result<()> {
        let _change = self.token_changes.lock().await;
        let mut row = self.open_token(token)?;
        row.last_beat = Utc::now();
        self.store.commit(vec![put(&row)]).done().await?;
        Ok(())
    }

    async fn answer(self: &Arc<Self>, mut row: Token, answer: Answer) -> Result<()> {
        row.status = "DONE".into();
        row.answer = Some(answer);
        self.store.commit(vec![put(&row)]).done().await?;
        self.wake(&row.execution_arn);
        Ok(())
    }

    /// A task was queued on an activity: wake the pollers (each checks its own activity).
    pub fn activity_ready(&self) {
        self.activity_signal.notify_waiters();
    }

    /// Hands the oldest waiting task of an activity to a worker, waiting up to
    /// [`ACTIVITY_POLL`] for one. `None` means no task (AWS answers with an empty token).
    pub async fn get_activity_task(
        self: &Arc<Self>,
        activity: &str,
        worker: Option<String>,
    ) -> Result<Option<Token>> {
        self.activity(activity)?;
        let deadline = tokio::time::Instant::now() + ACTIVITY_POLL;
        loop {
            let notified = self.activity_signal.notified();
            {
                let _change = self.token_changes.lock().await;
                let waiting = self.store.list::<Token>(Scan {
                    owner: Some(activity),
                    status: Some("SCHEDULED"),
                    limit: 1,
                    ..Default::default()
                })?;
                if let Some(mut row) = waiting.into_iter().next() {
                    row.status = "STARTED".into();
                    row.worker = Some(worker.clone().unwrap_or_default());
                    row.last_beat = Utc::now();
                    self.store.commit(vec![put(&row)]).done().await?;
                    self.wake(&row.execution_arn);
                    return Ok(Some(row));
                }
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(None),
                _ = crate::stopping::requested() => return Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sfn::testing::race;

    /// An answer that the API reads and writes across a task's deadline wins over the timeout:
    /// the executor decides under the same lock, on the token as the answer left it. Before,
    /// SendTaskSuccess was answered OK while the execution failed with States.Timeout.
    #[test]
    fn an_answer_at_the_deadline_is_not_undone_by_the_timeout() {
        const ACTIVITY: &str = "arn:aws:states:us-east-1:123456789012:activity:slow";
        let race = race(&format!(
            r#"{{"StartAt":"W","States":{{"W":{{"Type":"Task","Resource":"{ACTIVITY}","TimeoutSeconds":1,"End":true}}}}}}"#
        ));
        let rt = &race.runtime;
        rt.block_on(race.sfn.create_activity(&race.scope, "slow", Vec::new()))
            .unwrap();
        let arn = rt.block_on(race.start("late", "{}")).unwrap().unwrap().arn;
        let task = rt
            .block_on(race.sfn.get_activity_task(ACTIVITY, None))
            .unwrap()
            .unwrap();
        // what SendTaskSuccess does, with the deadline passing between its read and its write
        let change = rt.block_on(race.sfn.token_changes.lock());
        let row = race.sfn.open_token(&task.token).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        rt.block_on(
            race.sfn
                .answer(row, Answer::Success(serde_json::json!("in time"))),
        )
        .unwrap();
        drop(change);
        let e = race.ended(&arn);
        assert_eq!(e.status, "SUCCEEDED", "{e:?}");
        assert_eq!(e.output.as_deref(), Some(r#""in time""#));
        race.end();
    }
}
