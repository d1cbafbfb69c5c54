//! The export functions' triggers, played locally: a timer for the
//! scheduler (EventBridge in AWS), a poller for the worker (the SQS event
//! source mapping in AWS) and one for the arrivals function (the DynamoDB
//! stream's event source mapping). Each calls the export crate's handlers.

use std::time::Duration;

use audit_domain::time::Timestamp;

/// Receives one batch, handles it, and deletes the messages that did not
/// fail (what Lambda's event source mapping does with a partial batch
/// response). Returns how many messages were received.
pub async fn poll_once(app: &export::ExportApp, wait_secs: i32) -> Result<usize, String> {
    let messages = app
        .queue
        .receive(10, wait_secs)
        .await
        .map_err(|e| e.to_string())?;
    let received = messages.len();
    let handles: Vec<(String, String)> = messages
        .iter()
        .map(|m| (m.message_id.clone(), m.receipt_handle.clone()))
        .collect();
    let failed = export::handle_jobs(app, messages).await;
    for (id, receipt) in handles {
        if !failed.contains(&id) {
            app.queue
                .delete(&receipt)
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(received)
}

/// Runs the scheduler every `interval`, the worker poller continuously and
/// the arrivals poller every second (when the events table has a stream),
/// until the process ends.
pub async fn run(app: export::ExportApp, interval: Duration, arrivals: Option<ArrivalsPoller>) {
    let app = std::sync::Arc::new(app);
    let stream = {
        let app = app.clone();
        async move {
            let Some(mut arrivals) = arrivals else { return };
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Err(e) = arrivals.poll_once(&app.store).await {
                    tracing::error!(error = %e, "arrivals poll failed");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        }
    };
    let scheduler = {
        let app = app.clone();
        async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                export::schedule(&app, Timestamp::now()).await;
            }
        }
    };
    let poller = async move {
        loop {
            if let Err(e) = poll_once(&app, 10).await {
                tracing::error!(error = %e, "export poll failed");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    tokio::join!(scheduler, poller, stream);
}

/// The arrivals function's trigger, played locally: the events table's
/// DynamoDB stream, read shard by shard as Lambda's event source mapping
/// reads it (inserts only, as its filter passes), each batch handed to
/// `export::record_arrivals`.
pub struct ArrivalsPoller {
    streams: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// Each shard's next iterator; `None` once the shard is closed (kept,
    /// so it is never read again from its start).
    iterators: std::collections::BTreeMap<String, Option<String>>,
    /// A shard closed since the stream was last described: its children
    /// (DynamoDB opens them as a shard closes) are to be found.
    rediscover: bool,
    /// A write landing later than this after its stamp is late
    /// (`export::late_after_ms` of the export lag).
    late_after_ms: i64,
}

impl ArrivalsPoller {
    /// Starts at the tip of the events table's stream: writes from now on.
    /// `None` when the table has no stream (created before streams were
    /// turned on: `auditctl init` adds it).
    pub async fn start(
        config: &aws_config::SdkConfig,
        store: &audit_aws::store::Store,
        late_after_ms: i64,
    ) -> Result<Option<Self>, String> {
        let Some(stream_arn) = store.events_stream_arn().await.map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        // DynamoDB Local serves its streams at its own endpoint.
        let mut streams = aws_sdk_dynamodbstreams::config::Builder::from(config);
        if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").is_none() {
            if let Ok(url) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB") {
                streams = streams.endpoint_url(url);
            }
        }
        let mut poller = ArrivalsPoller {
            streams: aws_sdk_dynamodbstreams::Client::from_conf(streams.build()),
            stream_arn,
            iterators: Default::default(),
            rediscover: false,
            late_after_ms,
        };
        poller
            .discover(aws_sdk_dynamodbstreams::types::ShardIteratorType::Latest)
            .await?;
        Ok(Some(poller))
    }

    /// Adds the shards not seen yet, each from `from`.
    async fn discover(
        &mut self,
        from: aws_sdk_dynamodbstreams::types::ShardIteratorType,
    ) -> Result<(), String> {
        let described = self
            .streams
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(streams_error("DescribeStream"))?;
        let shards = described
            .stream_description()
            .map(|d| d.shards().to_vec())
            .unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id() else { continue };
            if self.iterators.contains_key(id) {
                continue;
            }
            let it = self
                .streams
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(id)
                .shard_iterator_type(from.clone())
                .send()
                .await
                .map_err(streams_error("GetShardIterator"))?;
            self.iterators
                .insert(id.to_string(), it.shard_iterator().map(str::to_string));
        }
        Ok(())
    }

    /// Reads what every shard has now and records the late arrivals among
    /// it. Returns how many records were read.
    pub async fn poll_once(&mut self, store: &audit_aws::store::Store) -> Result<usize, String> {
        // A closed shard's children start at their beginning.
        if self.rediscover {
            self.discover(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
                .await?;
            self.rediscover = false;
        }
        let mut read = 0;
        let mut arrivals = Vec::new();
        for iterator in self.iterators.values_mut() {
            let Some(it) = iterator.clone() else { continue };
            let out = self
                .streams
                .get_records()
                .shard_iterator(it)
                .limit(1000)
                .send()
                .await
                .map_err(streams_error("GetRecords"))?;
            read += out.records().len();
            let read_at = Timestamp::now();
            arrivals.extend(out.records().iter().filter_map(|r| arrival(r, read_at)));
            *iterator = out.next_shard_iterator().map(str::to_string);
            self.rediscover |= iterator.is_none();
        }
        if !arrivals.is_empty() {
            export::record_arrivals(store, &arrivals, self.late_after_ms)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(read)
    }
}

/// An SDK error of the streams API as text, naming the call.
fn streams_error<E: std::error::Error + 'static>(op: &'static str) -> impl Fn(E) -> String {
    move |e| {
        format!(
            "{op}: {}",
            aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)
        )
    }
}

/// A stream record as the arrivals handler takes it: inserts of items with
/// `PK`, `SK` and `rts`. DynamoDB Local rounds a record's
/// `ApproximateCreationDateTime` down to the minute (AWS, to the second),
/// too coarse to tell a write seconds late; the poller reads every second,
/// so the time it read the record (`read_at`, never before the write) is
/// the write's time here.
fn arrival(
    r: &aws_sdk_dynamodbstreams::types::Record,
    read_at: Timestamp,
) -> Option<export::Arrival> {
    if r.event_name() != Some(&aws_sdk_dynamodbstreams::types::OperationType::Insert) {
        return None;
    }
    let change = r.dynamodb()?;
    let image = change.new_image()?;
    let text = |name: &str| image.get(name)?.as_s().ok().cloned();
    Some(export::Arrival {
        pk: text("PK")?,
        sk: text("SK")?,
        rts: text("rts")?,
        written_at: read_at,
    })
}
