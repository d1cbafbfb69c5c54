//! The export queue and its dead-letter queue (SQS). Jobs name windows, not
//! payloads, so a job redriven days later still delivers the same events.

use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;

use audit_domain::export::ExportJob;
use audit_domain::time::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("SQS {op} failed: {message}")]
    Sqs { op: &'static str, message: String },
    #[error("job message is not an export job: {0}")]
    Malformed(String),
}

fn sqs_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    op: &'static str,
    e: aws_sdk_sqs::error::SdkError<E, R>,
) -> QueueError {
    QueueError::Sqs {
        op,
        message: DisplayErrorContext(&e).to_string(),
    }
}

/// One received job message, whatever delivered it (Lambda's SQS event or
/// the local poller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// SQS's ApproximateReceiveCount: 1 on the first delivery.
    pub receive_count: u32,
    /// SQS's ApproximateFirstReceiveTimestamp: when a worker first tried it.
    pub first_received_at: Option<Timestamp>,
}

impl JobMessage {
    /// Reads the two SQS system attributes the retry policy needs.
    pub fn from_attributes(
        message_id: String,
        receipt_handle: String,
        body: String,
        receive_count: Option<&str>,
        first_received_ms: Option<&str>,
    ) -> Self {
        JobMessage {
            message_id,
            receipt_handle,
            body,
            receive_count: receive_count.and_then(|c| c.parse().ok()).unwrap_or(1),
            first_received_at: first_received_ms
                .and_then(|ms| ms.parse::<i64>().ok())
                .and_then(|ms| Timestamp::from_millis(ms).ok()),
        }
    }
}

/// Queue names as `auditctl init` creates them and the template declares.
pub const QUEUE_NAME: &str = "audit-export";
pub const DLQ_NAME: &str = "audit-export-dlq";
/// The queue's redrive backstop: after this many receives SQS itself moves
/// a job to the DLQ (the worker's 30-minute deadline normally acts first).
pub const MAX_RECEIVE_COUNT: u32 = 50;
/// Must be at least six times the export function's timeout (120 s).
pub const VISIBILITY_TIMEOUT_SECS: u32 = 900;
/// Jobs wait in the DLQ for redrive for up to 14 days.
pub const DLQ_RETENTION_SECS: u32 = 14 * 86_400;
/// Main queue retention: 4 days.
pub const QUEUE_RETENTION_SECS: u32 = 4 * 86_400;

/// What a redrive does with one dead job (`ExportQueue::redrive_with`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Send it again and remove it from the DLQ.
    Send,
    /// Remove it from the DLQ unsent: it was redriven another way.
    Drop,
    /// Leave it in the DLQ (its claim could not be decided).
    Leave,
}

/// What a redrive did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redriven {
    /// The jobs sent again, as sent.
    pub moved: Vec<ExportJob>,
    /// Messages removed unsent.
    pub dropped: usize,
}

#[derive(Debug, Clone)]
pub struct ExportQueue {
    sqs: Client,
    queue_url: String,
    dlq_url: String,
}

impl ExportQueue {
    pub fn new(sqs: Client, queue_url: String, dlq_url: String) -> Self {
        Self {
            sqs,
            queue_url,
            dlq_url,
        }
    }

    /// URLs from `AUDIT_EXPORT_QUEUE_URL` / `AUDIT_EXPORT_DLQ_URL`, or looked
    /// up once by the standard names (local stack).
    pub async fn from_env(sqs: Client) -> Result<Self, QueueError> {
        let url = |var: &str, name: &'static str| {
            let sqs = sqs.clone();
            let var = std::env::var(var).ok();
            async move {
                match var {
                    Some(u) => Ok(u),
                    None => sqs
                        .get_queue_url()
                        .queue_name(name)
                        .send()
                        .await
                        .map_err(|e| sqs_error("GetQueueUrl", e))?
                        .queue_url
                        .ok_or(QueueError::Malformed(format!("no URL for queue {name}"))),
                }
            }
        };
        let queue_url = url("AUDIT_EXPORT_QUEUE_URL", QUEUE_NAME).await?;
        let dlq_url = url("AUDIT_EXPORT_DLQ_URL", DLQ_NAME).await?;
        Ok(Self::new(sqs, queue_url, dlq_url))
    }

    /// Creates both queues with the template's attributes. Idempotent.
    pub async fn ensure(sqs: &Client) -> Result<(String, String), QueueError> {
        Self::ensure_named(sqs, QUEUE_NAME, DLQ_NAME).await
    }

    /// As `ensure`, under other names (tests give each run its own queues).
    pub async fn ensure_named(
        sqs: &Client,
        queue_name: &str,
        dlq_name: &str,
    ) -> Result<(String, String), QueueError> {
        let dlq = sqs
            .create_queue()
            .queue_name(dlq_name)
            .attributes(
                QueueAttributeName::MessageRetentionPeriod,
                DLQ_RETENTION_SECS.to_string(),
            )
            .send()
            .await
            .map_err(|e| sqs_error("CreateQueue", e))?
            .queue_url
            .ok_or_else(|| QueueError::Malformed("no DLQ URL".into()))?;
        let dlq_arn = sqs
            .get_queue_attributes()
            .queue_url(&dlq)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| sqs_error("GetQueueAttributes", e))?
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or_else(|| QueueError::Malformed("no DLQ ARN".into()))?;
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": MAX_RECEIVE_COUNT,
        });
        let queue = sqs
            .create_queue()
            .queue_name(queue_name)
            .attributes(
                QueueAttributeName::VisibilityTimeout,
                VISIBILITY_TIMEOUT_SECS.to_string(),
            )
            .attributes(
                QueueAttributeName::MessageRetentionPeriod,
                QUEUE_RETENTION_SECS.to_string(),
            )
            .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
            .send()
            .await
            .map_err(|e| sqs_error("CreateQueue", e))?
            .queue_url
            .ok_or_else(|| QueueError::Malformed("no queue URL".into()))?;
        Ok((queue, dlq))
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    pub fn dlq_url(&self) -> &str {
        &self.dlq_url
    }

    pub async fn send(&self, job: &ExportJob) -> Result<(), QueueError> {
        self.send_to(&self.queue_url, job, None).await
    }

    /// Dead-letters a job with the reason it failed.
    pub async fn send_to_dlq(&self, job: &ExportJob, reason: &str) -> Result<(), QueueError> {
        self.send_to(&self.dlq_url, job, Some(reason)).await
    }

    async fn send_to(
        &self,
        url: &str,
        job: &ExportJob,
        reason: Option<&str>,
    ) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).map_err(|e| QueueError::Malformed(e.to_string()))?;
        // The org as the message group: on a standard queue that is SQS
        // fair queues, so one org's backlog does not delay the others'
        // jobs (the worker's round-robin does the same within a batch).
        let mut req = self
            .sqs
            .send_message()
            .queue_url(url)
            .message_body(body)
            .message_group_id(job.org_id.to_string());
        if let Some(reason) = reason {
            let attr = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(reason)
                .build()
                .map_err(|e| QueueError::Malformed(e.to_string()))?;
            req = req.message_attributes("reason", attr);
        }
        req.send().await.map_err(|e| sqs_error("SendMessage", e))?;
        Ok(())
    }

    /// Hides a message for `delay_secs`: the exponential backoff of a retry.
    pub async fn retry_later(
        &self,
        receipt_handle: &str,
        delay_secs: u32,
    ) -> Result<(), QueueError> {
        self.sqs
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(delay_secs).unwrap_or(i32::MAX).min(43_200))
            .send()
            .await
            .map_err(|e| sqs_error("ChangeMessageVisibility", e))?;
        Ok(())
    }

    /// Receives jobs from the main queue (the local poller; Lambda's event
    /// source mapping does this in AWS).
    pub async fn receive(&self, max: i32, wait_secs: i32) -> Result<Vec<JobMessage>, QueueError> {
        self.receive_from(&self.queue_url, max, wait_secs, None)
            .await
    }

    async fn receive_from(
        &self,
        url: &str,
        max: i32,
        wait_secs: i32,
        visibility_secs: Option<i32>,
    ) -> Result<Vec<JobMessage>, QueueError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(wait_secs)
            .set_visibility_timeout(visibility_secs)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(
                MessageSystemAttributeName::ApproximateFirstReceiveTimestamp,
            )
            .send()
            .await
            .map_err(|e| sqs_error("ReceiveMessage", e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let attr = |name: MessageSystemAttributeName| {
                    m.attributes
                        .as_ref()
                        .and_then(|a| a.get(&name))
                        .map(String::as_str)
                };
                Some(JobMessage::from_attributes(
                    m.message_id.clone()?,
                    m.receipt_handle.clone()?,
                    m.body.clone().unwrap_or_default(),
                    attr(MessageSystemAttributeName::ApproximateReceiveCount),
                    attr(MessageSystemAttributeName::ApproximateFirstReceiveTimestamp),
                ))
            })
            .collect())
    }

    pub async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.delete_from(&self.queue_url, receipt_handle).await
    }

    async fn delete_from(&self, url: &str, receipt_handle: &str) -> Result<(), QueueError> {
        self.sqs
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| sqs_error("DeleteMessage", e))?;
        Ok(())
    }

    /// Puts dead-lettered jobs back on the main queue (receive → send →
    /// delete, which works on SQS and on moto alike), optionally only one
    /// destination's, asking `claim` about each job first: send it again,
    /// drop its message (someone else redrove it), or leave it in the DLQ.
    pub async fn redrive_with<F, Fut>(
        &self,
        destination: Option<&str>,
        now: Timestamp,
        mut claim: F,
    ) -> Result<Redriven, QueueError>
    where
        F: FnMut(ExportJob) -> Fut,
        Fut: std::future::Future<Output = Claim>,
    {
        let mut done = Redriven::default();
        loop {
            // Messages left alone stay hidden for the rest of this run, so
            // the loop ends when every visible message has been looked at.
            let batch = self.receive_from(&self.dlq_url, 10, 0, Some(60)).await?;
            if batch.is_empty() {
                return Ok(done);
            }
            for m in batch {
                let job: ExportJob = match serde_json::from_str(&m.body) {
                    Ok(j) => j,
                    Err(e) => {
                        tracing::warn!(message_id = %m.message_id, error = %e, "DLQ message is not an export job; left in place");
                        continue;
                    }
                };
                if destination.is_some_and(|d| d != job.destination_id) {
                    continue;
                }
                match claim(job.clone()).await {
                    Claim::Send => {
                        let again = job.redriven(now);
                        self.send(&again).await?;
                        self.delete_from(&self.dlq_url, &m.receipt_handle).await?;
                        done.moved.push(again);
                    }
                    Claim::Drop => {
                        self.delete_from(&self.dlq_url, &m.receipt_handle).await?;
                        done.dropped += 1;
                    }
                    Claim::Leave => {}
                }
            }
        }
    }

    /// Approximate number of jobs on the export queue, visible and in
    /// flight (`ApproximateNumberOfMessages` + `…NotVisible`: a job hidden
    /// for its backoff counts): what backpressure bounds.
    pub async fn depth(&self) -> Result<u64, QueueError> {
        self.count(
            &self.queue_url,
            &[
                QueueAttributeName::ApproximateNumberOfMessages,
                QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            ],
        )
        .await
    }

    /// Approximate number of jobs on the export queue that are visible now
    /// (not in flight, not hidden for a backoff).
    pub async fn visible(&self) -> Result<u64, QueueError> {
        self.count(
            &self.queue_url,
            &[QueueAttributeName::ApproximateNumberOfMessages],
        )
        .await
    }

    /// Approximate number of visible jobs in the DLQ.
    pub async fn dlq_depth(&self) -> Result<u64, QueueError> {
        self.count(
            &self.dlq_url,
            &[QueueAttributeName::ApproximateNumberOfMessages],
        )
        .await
    }

    /// The sum of the queue's approximate counts `names`.
    async fn count(&self, url: &str, names: &[QueueAttributeName]) -> Result<u64, QueueError> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .set_attribute_names(Some(names.to_vec()))
            .send()
            .await
            .map_err(|e| sqs_error("GetQueueAttributes", e))?;
        let attributes = out.attributes.unwrap_or_default();
        Ok(names
            .iter()
            .filter_map(|name| attributes.get(name)?.parse::<u64>().ok())
            .sum())
    }
}
