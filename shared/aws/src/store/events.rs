//! Event items: encoding, the idempotent put, lookup by id, and paged
//! queries that fill a page under a read budget.

use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnConsumedCapacity, ReturnValuesOnConditionCheckFailure,
};

use super::event_item::{decode_item, encode_event_item, event_sk, sort_key};
use super::{dynamo_error, Item, Store, StoreError};
use crate::store::plan::{keys, Index, QueryPlan, RangeRead, TextRead};
use audit_domain::cursor::CursorKey;
use audit_domain::event::Event;
use audit_domain::ids::{EventId, OrgId};
use audit_domain::retention::RetentionDays;

/// How a put ended.
#[derive(Debug, Clone, PartialEq)]
pub enum PutOutcome {
    Created,
    /// The same id was already stored with the same content.
    Duplicate(Box<Event>),
    /// The same id was already stored with other content; it is unchanged.
    Conflict(Box<Event>),
}

/// An event's key on `by_recorded` (`rts`): what a job's `resume_after`
/// holds, so a continuation starts right after this event.
pub fn recorded_key(e: &Event) -> String {
    sort_key(e.recorded_at, &e.id)
}

/// A page of events, newest first, and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub events: Vec<Event>,
    pub next: Option<CursorKey>,
}

/// How much one page may read before it returns what it has (with a cursor).
#[derive(Debug, Clone, Copy)]
pub struct ReadBudget {
    pub max_round_trips: u32,
    pub max_items_read: usize,
}

/// What one `find_events` call cost DynamoDB.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReadCost {
    /// Read capacity units consumed, as DynamoDB reports them
    /// (`ReturnConsumedCapacity::Total`); 0 when it reports none.
    pub read_units: f64,
    pub round_trips: u32,
    /// Items DynamoDB read (before the filter).
    pub items_read: usize,
}

impl ReadCost {
    /// Counts one round trip that read `items` items.
    pub(crate) fn add(
        &mut self,
        consumed: Option<&aws_sdk_dynamodb::types::ConsumedCapacity>,
        items: usize,
    ) {
        self.round_trips += 1;
        self.items_read += items;
        self.read_units += consumed.and_then(|c| c.capacity_units).unwrap_or(0.0);
    }
}

impl Default for ReadBudget {
    fn default() -> Self {
        ReadBudget {
            max_round_trips: 8,
            max_items_read: 20_000,
        }
    }
}

impl Store {
    /// Stores an event exactly once: a conditional put; when the id already
    /// exists, the stored twin decides between duplicate and conflict.
    pub async fn put_event(
        &self,
        event: &Event,
        retention: RetentionDays,
    ) -> Result<PutOutcome, StoreError> {
        let item = encode_event_item(event, retention)?;
        let result = self
            .ddb
            .put_item()
            .table_name(&self.tables.events)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let failed = match result {
            Ok(_) => return Ok(PutOutcome::Created),
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_conditional_check_failed_exception() => {
                    if let aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) = s {
                        c.item().cloned()
                    } else {
                        None
                    }
                }
                _ => return Err(dynamo_error("PutItem", e)),
            },
        };
        let existing = match failed {
            Some(item) => decode_item(item)?,
            None => self
                .get_event(&event.org_id, &event.id)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("event {} vanished", event.id)))?,
        };
        Ok(if existing.content_hash == event.content_hash {
            PutOutcome::Duplicate(Box::new(existing))
        } else {
            PutOutcome::Conflict(Box::new(existing))
        })
    }

    pub async fn get_event(&self, org: &OrgId, id: &EventId) -> Result<Option<Event>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.tables.events)
            .key("PK", AttributeValue::S(keys::org(org)))
            .key("SK", AttributeValue::S(event_sk(id)))
            .send()
            .await
            .map_err(|e| dynamo_error("GetItem", e))?;
        out.item.map(decode_item).transpose()
    }

    /// Runs a plan newest first from `start`, looping until `limit` events
    /// matched, the index is exhausted, or the budget is spent.
    pub async fn find_events(
        &self,
        org: &OrgId,
        plan: &QueryPlan,
        start: Option<&CursorKey>,
        limit: usize,
        budget: ReadBudget,
    ) -> Result<Page, StoreError> {
        self.find_events_measured(org, plan, start, limit, budget)
            .await
            .map(|(page, _)| page)
    }

    /// `find_events`, also returning what the page cost DynamoDB.
    pub async fn find_events_measured(
        &self,
        org: &OrgId,
        plan: &QueryPlan,
        start: Option<&CursorKey>,
        limit: usize,
        budget: ReadBudget,
    ) -> Result<(Page, ReadCost), StoreError> {
        let mut cost = ReadCost::default();
        let page = self
            .find_events_costed(org, plan, start, limit, budget, &mut cost)
            .await?;
        Ok((page, cost))
    }

    async fn find_events_costed(
        &self,
        org: &OrgId,
        plan: &QueryPlan,
        start: Option<&CursorKey>,
        limit: usize,
        budget: ReadBudget,
        cost: &mut ReadCost,
    ) -> Result<Page, StoreError> {
        if let TextRead::Summaries(needles) = plan.text_read() {
            if let Some(page) = self
                .find_text_events(org, plan, &needles, start, limit, cost)
                .await?
            {
                return Ok(page);
            }
        }
        let own = plan.own_read();
        let mut events: Vec<Event> = Vec::with_capacity(limit);
        let mut exclusive_start = start.map(|k| start_key(org, plan, k));
        let mut round_trips = 0;
        let mut items_read = 0usize;
        loop {
            let remaining = limit - events.len();
            // Without a filter every item read is returned: read one more than
            // needed to learn whether another page exists. With a filter, read
            // ahead more generously, doubling each round trip.
            let read_limit = if plan.has_filter() {
                (((remaining + 1) * 4) << round_trips.min(4)).min(1000)
            } else {
                remaining + 1
            };
            let out = self
                .range_query(&own, exclusive_start.take(), read_limit, cost)
                .await?;
            round_trips += 1;
            items_read += usize::try_from(out.scanned_count).unwrap_or(0);
            for item in out.items.unwrap_or_default() {
                let event = decode_item(item)?;
                if !plan.matches_text(&event) {
                    continue;
                }
                if events.len() == limit {
                    // There is at least one more match: continue after the last returned.
                    let next = events.last().map(cursor_key);
                    return Ok(Page { events, next });
                }
                events.push(event);
            }
            match out.last_evaluated_key {
                None => return Ok(Page { events, next: None }),
                Some(lek) => {
                    let spent = round_trips >= budget.max_round_trips
                        || items_read >= budget.max_items_read;
                    if events.len() == limit || spent {
                        let next = match events.last() {
                            Some(e) if events.len() == limit => cursor_key(e),
                            _ => cursor_from_key(&lek)?,
                        };
                        return Ok(Page {
                            events,
                            next: Some(next),
                        });
                    }
                    exclusive_start = Some(lek);
                }
            }
        }
    }
}

impl Store {
    /// One page of `read` newest first, its cost added to `cost`.
    pub(crate) async fn range_query(
        &self,
        read: &RangeRead,
        start: Option<Item>,
        limit: usize,
        cost: &mut ReadCost,
    ) -> Result<aws_sdk_dynamodb::operation::query::QueryOutput, StoreError> {
        let mut req = self
            .ddb
            .query()
            .table_name(&self.tables.events)
            .index_name(read.index)
            .key_condition_expression(&read.key_condition)
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(1000))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .set_exclusive_start_key(start);
        if let Some(f) = &read.filter {
            req = req.filter_expression(f);
        }
        for (k, v) in &read.names {
            req = req.expression_attribute_names(k, v);
        }
        for (k, v) in &read.values {
            req = req.expression_attribute_values(k, AttributeValue::S(v.clone()));
        }
        let out = req.send().await.map_err(|e| dynamo_error("Query", e))?;
        cost.add(
            out.consumed_capacity.as_ref(),
            usize::try_from(out.scanned_count).unwrap_or(0),
        );
        Ok(out)
    }
}

/// The position just after `e` in any newest-first listing: where a page,
/// or a download cut short, that ended with `e` resumes.
pub fn cursor_key(e: &Event) -> CursorKey {
    CursorKey {
        ts: sort_key(e.occurred_at, &e.id),
        id: e.id.to_string(),
    }
}

fn cursor_from_key(key: &Item) -> Result<CursorKey, StoreError> {
    let s = |name: &str| match key.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::Corrupt(format!(
            "last evaluated key lacks {name}"
        ))),
    };
    let sk = s("SK")?;
    Ok(CursorKey {
        ts: s("ts")?,
        id: sk.strip_prefix("EVT#").unwrap_or(&sk).to_string(),
    })
}

/// The exclusive start key for a GSI: the table's keys plus the index's.
fn start_key(org: &OrgId, plan: &QueryPlan, k: &CursorKey) -> Item {
    let mut key = Item::new();
    key.insert("PK".into(), AttributeValue::S(keys::org(org)));
    key.insert("SK".into(), AttributeValue::S(format!("EVT#{}", k.id)));
    key.insert("ts".into(), AttributeValue::S(k.ts.clone()));
    if plan.index != Index::ByTime {
        key.insert(
            plan.index.partition_attribute().into(),
            AttributeValue::S(plan.partition.clone()),
        );
    }
    key
}

/// Events of an export window in recorded order, and where to resume when
/// the window holds more than one read.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowPage {
    pub events: Vec<Event>,
    /// The `rts` of the last event read, when more may follow.
    pub resume_after: Option<String>,
}

impl Store {
    /// Up to `limit` events recorded in `window` = (from, to], oldest first,
    /// after `resume_after` (an `rts` value) when continuing a window.
    pub async fn window_events(
        &self,
        org: &OrgId,
        window: &audit_domain::export::ExportWindow,
        resume_after: Option<&str>,
        limit: usize,
    ) -> Result<WindowPage, StoreError> {
        self.window_events_within(org, window, resume_after, limit, usize::MAX)
            .await
    }

    /// Like `window_events`, and stops once the events read reach
    /// `max_bytes` of stored item size, so that what a caller holds in
    /// memory is bounded by bytes as well as by count.
    pub async fn window_events_within(
        &self,
        org: &OrgId,
        window: &audit_domain::export::ExportWindow,
        resume_after: Option<&str>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<WindowPage, StoreError> {
        // rts = "<13-digit millis>#<id>": events after `from` sort at or after
        // "<from + 1 ms>", and those at or before `to` before "<to + 1 ms>".
        let lo = window.from.plus_millis(1).sort_key();
        let hi = window.to.plus_millis(1).sort_key();
        let mut events = Vec::new();
        let mut bytes = 0usize;
        let mut start: Option<Item> = resume_after.map(|rts| {
            let id = rts.split_once('#').map_or(rts, |(_, id)| id);
            Item::from([
                ("PK".to_string(), AttributeValue::S(keys::org(org))),
                ("SK".to_string(), AttributeValue::S(format!("EVT#{id}"))),
                ("rts".to_string(), AttributeValue::S(rts.to_string())),
            ])
        });
        loop {
            let out = self
                .ddb
                .query()
                .table_name(&self.tables.events)
                .index_name("by_recorded")
                .key_condition_expression("PK = :pk AND rts BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", AttributeValue::S(keys::org(org)))
                .expression_attribute_values(":lo", AttributeValue::S(lo.clone()))
                .expression_attribute_values(":hi", AttributeValue::S(hi.clone()))
                .limit(
                    i32::try_from(limit - events.len())
                        .unwrap_or(1000)
                        .min(1000),
                )
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| dynamo_error("Query", e))?;
            self.count_reads(out.consumed_capacity.as_ref());
            let items = out.items.unwrap_or_default();
            let read = items.len();
            for (i, item) in items.into_iter().enumerate() {
                bytes += super::item_size(&item);
                let rts = match item.get("rts") {
                    Some(AttributeValue::S(v)) => v.clone(),
                    _ => return Err(StoreError::Corrupt("an event item lacks rts".into())),
                };
                events.push(decode_item(item)?);
                let more = i + 1 < read || out.last_evaluated_key.is_some();
                if bytes >= max_bytes && more {
                    return Ok(WindowPage {
                        events,
                        resume_after: Some(rts),
                    });
                }
            }
            match out.last_evaluated_key {
                None => {
                    return Ok(WindowPage {
                        events,
                        resume_after: None,
                    })
                }
                Some(lek) if events.len() >= limit => {
                    let rts = match lek.get("rts") {
                        Some(AttributeValue::S(v)) => v.clone(),
                        _ => {
                            return Err(StoreError::Corrupt("last evaluated key lacks rts".into()))
                        }
                    };
                    return Ok(WindowPage {
                        events,
                        resume_after: Some(rts),
                    });
                }
                Some(lek) => start = Some(lek),
            }
        }
    }
}
