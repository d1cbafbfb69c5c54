//! Figure 2: ingest throughput over HTTP against raw PutItem, and the write
//! units each stored event costs.

use crate::*;

pub async fn fig_ingest(run: &mut Run, s: &Stack) {
    let total = if run.quick { 2_000 } else { 20_000 };
    let org = s.org("bench-ingest", false).await;
    let (key, _) = s.key(&org, Role::Ingest).await;
    let bodies: Vec<Vec<u8>> = (0..total / 100)
        .map(|b| {
            let events: Vec<Value> = (0..100)
                .map(|j| fixtures::event("evt_in", b * 100 + j, None))
                .collect();
            serde_json::to_vec(&json!({ "events": events })).expect("json")
        })
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (bodies, next, key) = (bodies.clone(), next.clone(), key.clone());
            let (http, base) = (s.http.clone(), s.base.clone());
            tokio::spawn(async move {
                let mut batch_ms = Vec::new();
                loop {
                    let b = next.fetch_add(1, Ordering::SeqCst);
                    let Some(body) = bodies.get(b) else { break };
                    let t = Instant::now();
                    let r = http
                        .post(format!("{base}/v1/events"))
                        .bearer_auth(&key)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .expect("POST /v1/events");
                    let status = r.status().as_u16();
                    let v: Value = r.json().await.expect("batch answer");
                    assert_eq!(status, 200, "{v}");
                    assert_eq!(v["summary"]["created"].as_u64(), Some(100), "{v}");
                    batch_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                batch_ms
            })
        })
        .collect();
    let mut batch_ms = Vec::new();
    for c in clients {
        batch_ms.extend(c.await.expect("client"));
    }
    let ours = total as f64 / started.elapsed().as_secs_f64();

    // Baseline: the same items (other ids), PutItem with the same condition,
    // as many in flight as the server has (clients × its write concurrency).
    let org2 = s.org("bench-raw", false).await;
    let raw: Vec<Item> = items(&org2, "evt_raw", 0..total, |_| None)
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    let client = ddb().await;
    let table = ddb_events_table(s);
    let in_flight = CLIENTS * audit_domain::limits::INGEST_WRITE_CONCURRENCY;
    // The least a write of these items could cost: each item alone, in 1 KB
    // write units, as in a table without indexes.
    let alone: f64 = raw
        .iter()
        .map(|i| (item_size(i) as f64 / 1024.0).ceil())
        .sum();
    let started = Instant::now();
    let units: f64 = stream::iter(raw)
        .map(|item| {
            client
                .put_item()
                .table_name(&table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
        })
        .buffer_unordered(in_flight)
        .map(|r| {
            r.expect("raw PutItem")
                .consumed_capacity
                .and_then(|c| c.capacity_units)
                .unwrap_or(0.0)
        })
        .collect::<Vec<f64>>()
        .await
        .iter()
        .sum();
    let base = total as f64 / started.elapsed().as_secs_f64();
    run.rows.push(Row::num(
        &format!("2. Ingest throughput, HTTP, {CLIENTS} clients × 100-event batches ({total} events), vs raw PutItem ({in_flight} in flight)"),
        ours,
        base,
        "events/s",
        &cmd("ingest"),
    ));
    run.rows.push(Row::num(
        &format!(
            "2. Ingest write units per event (table + {} GSIs projecting the whole item, as DESIGN.md fixes), vs the item alone",
            audit_aws::store::schema::EVENTS.indexes.len()
        ),
        units / total as f64,
        alone / total as f64,
        "WCU",
        &cmd("ingest"),
    ));
    let (p50, p95) = percentiles(&mut batch_ms);
    run.notes.push(format!(
        "Figure 2: one 100-event batch took {p50:.0} ms at the median, {p95:.0} ms at p95, with {CLIENTS} clients."
    ));
}
