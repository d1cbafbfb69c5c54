//! Figure 3: page latency and read units per returned event for five
//! filters on a large org, against Scan + filter and the minimum.

use crate::*;

struct Sample {
    name: &'static str,
    pairs: Vec<(&'static str, String)>,
}

pub async fn fig_query(run: &mut Run, s: &Stack) -> (OrgId, String) {
    let n = std::env::var("BENCH_QUERY_EVENTS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(if run.quick { 10_000 } else { 100_000 });
    let org = s.org("bench-query", false).await;
    let (admin, _) = s.key(&org, Role::Admin).await;
    let now_ms = Timestamp::now().millis() - 60_000;
    let span = 90 * DAY_MS;
    let at = move |i: usize| Some(now_ms - (i as i64) * span / n as i64);
    let started = Instant::now();
    // Load in slices of 10,000, reporting the rate (DynamoDB Local slows
    // down as the table and its indexes grow).
    for lo in (0..n).step_by(10_000) {
        let t = Instant::now();
        let hi = (lo + 10_000).min(n);
        // Recorded when they occurred, as a log 90 days old was: sealing
        // (below) then closes every hour but the last.
        let all: Vec<Item> = items(&org, "evt_q", lo..hi, at)
            .into_iter()
            .map(|(mut e, _)| {
                e.recorded_at = e.occurred_at;
                encode_event_item(&e, audit_domain::retention::RetentionDays::DEFAULT)
                    .expect("encode")
            })
            .collect();
        load(s, all).await;
        eprintln!(
            "bench: loaded {hi}/{n} events ({:.0} events/s for the last slice)",
            (hi - lo) as f64 / t.elapsed().as_secs_f64()
        );
    }
    let load_s = started.elapsed().as_secs_f64();
    run.notes.push(format!(
        "Figure 3: {n} events over 90 days loaded with BatchWriteItem (the store's own encoding) in {load_s:.0} s ({:.0} events/s).",
        n as f64 / load_s
    ));
    // Sealed as a stage seals it (hourly periods, the default lag): free
    // text reads the term summaries sealing writes; the open hour is read
    // as events.
    let started = Instant::now();
    let app = s
        .exporter(export::ExportConfig {
            digest_period_ms: audit_domain::integrity::DEFAULT_PERIOD_MS,
            ..export::ExportConfig::default()
        })
        .await;
    let mut digests = 0;
    for _ in 0..1_000 {
        let report = export::seal(&app, Timestamp::now()).await;
        assert_eq!(report.errors, 0, "{report:?}");
        digests += report.digests;
        if report.digests == 0 {
            break;
        }
    }
    assert!(digests > 0, "figure 3's org was not sealed");
    let seal_s = started.elapsed().as_secs_f64();
    let (summaries, summary_bytes) = term_summary_size(s, &org).await;
    run.notes.push(format!(
        "Figure 3: the org sealed ({digests} hourly digests) in {seal_s:.0} s before the queries; its {summaries} term summary items hold {summary_bytes} B, {:.0} B per event.",
        summary_bytes as f64 / n as f64
    ));

    let week_from = Timestamp::from_millis(now_ms - 7 * DAY_MS)
        .expect("from")
        .to_rfc3339();
    let week_to = Timestamp::from_millis(now_ms + 120_000)
        .expect("to")
        .to_rfc3339();
    let samples = vec![
        Sample {
            name: "date range (7 days)",
            pairs: vec![("from", week_from.clone()), ("to", week_to.clone())],
        },
        Sample {
            name: "group=credentials",
            pairs: vec![("group", "credentials".into())],
        },
        Sample {
            name: "action=MODEL_DEPLOYED",
            pairs: vec![("action", "MODEL_DEPLOYED".into())],
        },
        Sample {
            name: "actor=usr_007",
            pairs: vec![("actor", "usr_007".into())],
        },
        Sample {
            name: "free text in a week",
            pairs: vec![
                ("q", "mixtral".into()),
                ("from", week_from.clone()),
                ("to", week_to.clone()),
            ],
        },
        Sample {
            name: RARE,
            pairs: vec![
                ("q", crate::fixtures::RARE_WORD.into()),
                ("from", week_from),
                ("to", week_to),
            ],
        },
    ];
    let mut p50s: std::collections::HashMap<&str, f64> = Default::default();
    let reps = if run.quick { 10 } else { 30 };
    let scan_reps = if run.quick { 2 } else { 3 };
    let client = ddb().await;
    let table = ddb_events_table(s);
    for sample in &samples {
        eprintln!("bench: query {}", sample.name);
        // Ours: the page over HTTP (auth, plan, DynamoDB, JSON), limit 50.
        let mut url = reqwest::Url::parse(&format!("{}/v1/events", s.base)).expect("url");
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in &sample.pairs {
                q.append_pair(k, v);
            }
            q.append_pair("limit", "50");
        }
        let mut ms = Vec::new();
        let mut returned = 0;
        for i in 0..=reps {
            let t = Instant::now();
            let r = s
                .http
                .get(url.clone())
                .bearer_auth(&admin)
                .send()
                .await
                .expect("GET");
            let status = r.status().as_u16();
            let v: Value = r.json().await.expect("page");
            assert_eq!(status, 200, "{v}");
            returned = v["events"].as_array().map_or(0, Vec::len);
            if i > 0 {
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let (p50, p95) = percentiles(&mut ms);
        p50s.insert(sample.name, p50);

        // Ours, in the store: what that page read.
        let pairs: Vec<(&str, &str)> = sample
            .pairs
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .chain([("limit", "50")])
            .collect();
        let q = ActivityQuery::parse(pairs).expect("query");
        let plan = audit_aws::store::plan::plan(&org, &q);
        let (page, cost) = s
            .store
            .find_events_measured(&org, &plan, None, 50, ReadBudget::default())
            .await
            .expect("find_events");
        let got = page.events.len().max(1) as f64;
        let bytes: usize = page
            .events
            .iter()
            .map(|e| {
                encode_event_item(e, audit_domain::retention::RetentionDays::DEFAULT)
                    .map(|i| item_size(&i))
                    .unwrap_or(0)
            })
            .sum();
        // Eventually consistent reads (every GSI query) cost 0.5 unit per 4 KB.
        let minimum = 0.5 * (bytes as f64 / 4096.0).ceil();

        // Baseline: Scan the table with the same conditions as a filter until
        // a page of 50 matches is found (unordered: a Scan cannot sort).
        let mut filter = format!("({})", plan.key_condition);
        if let Some(f) = &plan.filter {
            filter.push_str(&format!(" AND ({f})"));
        }
        let mut scan_ms = Vec::new();
        let mut scan_units = 0.0;
        let mut scan_found = 0usize;
        // A word one event holds makes the Scan read the whole table: once.
        let scan_reps = if sample.name == RARE { 1 } else { scan_reps };
        for _ in 0..scan_reps {
            let t = Instant::now();
            let (mut found, mut units) = (0usize, 0.0);
            let mut start: Option<Item> = None;
            loop {
                let mut req = client
                    .scan()
                    .table_name(&table)
                    .filter_expression(&filter)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .set_exclusive_start_key(start.take());
                for (k, v) in &plan.names {
                    req = req.expression_attribute_names(k, v);
                }
                for (k, v) in &plan.values {
                    req = req.expression_attribute_values(k, AttributeValue::S(v.clone()));
                }
                let out = req.send().await.expect("Scan");
                // Free text is not in the filter expression (the store
                // matches it on the decoded event): count only real matches.
                found += out.items.as_ref().map_or(0, |items| {
                    items
                        .iter()
                        .filter(|i| {
                            audit_aws::store::decode_event_item((*i).clone())
                                .is_ok_and(|e| plan.matches_text(&e))
                        })
                        .count()
                });
                units += out
                    .consumed_capacity
                    .and_then(|c| c.capacity_units)
                    .unwrap_or(0.0);
                match out.last_evaluated_key {
                    Some(k) if found < 50 => start = Some(k),
                    _ => break,
                }
            }
            scan_ms.push(t.elapsed().as_secs_f64() * 1000.0);
            scan_units = units;
            scan_found = found.min(50);
        }
        let (scan_p50, scan_p95) = percentiles(&mut scan_ms);
        let fig = format!("3. Query {}", sample.name);
        run.rows.push(Row {
            figure: format!("{fig}: page latency p50 / p95 (HTTP, limit 50, {returned} returned; {reps} runs, Scan {scan_reps}), vs Scan + filter until 50 match"),
            ours: format!("{p50:.1} / {p95:.1} ms"),
            baseline: format!("{scan_p50:.0} / {scan_p95:.0} ms"),
            ratio: ratio(p50, scan_p50),
            command: cmd("query"),
        });
        let per_event = cost.read_units / got;
        run.rows.push(Row::num(
            &format!("{fig}: read units per returned event ({} items read, {} round trips), vs Scan + filter", cost.items_read, cost.round_trips),
            per_event,
            scan_units / scan_found.max(1) as f64,
            "RCU",
            &cmd("query"),
        ));
        run.rows.push(Row::num(
            &format!("{fig}: read units per returned event, vs the minimum (returned items' own size, {:.1} KB avg)", bytes as f64 / got / 1024.0),
            per_event,
            minimum / got,
            "RCU",
            &cmd("query"),
        ));
    }
    if let (Some(rare), Some(action)) = (p50s.get(RARE), p50s.get("action=MODEL_DEPLOYED")) {
        run.rows.push(Row::num(
            &format!("3. Query {RARE}: page latency p50, vs action=MODEL_DEPLOYED's (goal ≤ 10×)"),
            *rare,
            *action,
            "ms",
            &cmd("query"),
        ));
    }
    (org, admin)
}

/// How many term summary items the org has, and their size in bytes.
async fn term_summary_size(s: &Stack, org: &OrgId) -> (usize, usize) {
    let client = ddb().await;
    let (mut items, mut bytes) = (0, 0);
    let mut start: Option<Item> = None;
    loop {
        let out = client
            .query()
            .table_name(&s.store.tables().control)
            .key_condition_expression("PK = :pk AND begins_with(SK, :t)")
            .expression_attribute_values(":pk", AttributeValue::S(format!("DIGESTS#{org}")))
            .expression_attribute_values(":t", AttributeValue::S("TERMS#".into()))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("Query");
        for i in out.items.unwrap_or_default() {
            items += 1;
            bytes += item_size(&i);
        }
        match out.last_evaluated_key {
            Some(k) => start = Some(k),
            None => return (items, bytes),
        }
    }
}

/// The rare-word sample (one event in the data set holds the word).
const RARE: &str = "free text, a word 1 event holds, in a week";
