//! What someone with write access to the control table can do to an org's
//! log, for the tests that show verification and witnesses catch it: the
//! items are written as the store keeps them, past every API.

use audit_domain::ids::OrgId;
use audit_domain::time::Timestamp;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::Stack;

fn s(v: String) -> AttributeValue {
    AttributeValue::S(v)
}

fn digests_pk(org: &OrgId) -> AttributeValue {
    s(format!("DIGESTS#{org}"))
}

fn checkpoint_sk(size: u64) -> AttributeValue {
    s(format!("CHECKPOINT#{size:020}"))
}

fn digest_sk(period_start: Timestamp) -> AttributeValue {
    s(format!("DIGEST#{}", period_start.sort_key()))
}

impl Stack {
    async fn delete_control(&self, pk: AttributeValue, sk: AttributeValue) {
        self.ddb()
            .await
            .delete_item()
            .table_name(&self.store.tables().control)
            .key("PK", pk)
            .key("SK", sk)
            .send()
            .await
            .expect("DeleteItem");
    }

    /// Writes `note` as the org's checkpoint at tree size `size`.
    pub async fn tamper_put_checkpoint(&self, org: &OrgId, size: u64, note: String) {
        self.ddb()
            .await
            .put_item()
            .table_name(&self.store.tables().control)
            .item("PK", digests_pk(org))
            .item("SK", checkpoint_sk(size))
            .item("note", s(note))
            .send()
            .await
            .expect("PutItem");
    }

    pub async fn tamper_delete_checkpoint(&self, org: &OrgId, size: u64) {
        self.delete_control(digests_pk(org), checkpoint_sk(size))
            .await;
    }

    /// Deletes the digest of the period starting at `period_start`.
    pub async fn tamper_delete_digest(&self, org: &OrgId, period_start: Timestamp) {
        self.delete_control(digests_pk(org), digest_sk(period_start))
            .await;
    }

    /// Deletes every item of the org's integrity record (digests,
    /// manifests, tiles, checkpoints, sealing progress) and its chain head,
    /// as an operator rebuilding the log from scratch would.
    pub async fn tamper_wipe_integrity(&self, org: &OrgId) {
        let ddb = self.ddb().await;
        let mut start = None;
        loop {
            let page = ddb
                .query()
                .table_name(&self.store.tables().control)
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", digests_pk(org))
                .projection_expression("PK, SK")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .expect("Query");
            for item in page.items() {
                self.delete_control(item["PK"].clone(), item["SK"].clone())
                    .await;
            }
            match page.last_evaluated_key {
                Some(key) => start = Some(key),
                None => break,
            }
        }
        self.tamper_delete_head(org).await;
    }

    /// Deletes one of the org's events from the events table.
    pub async fn tamper_delete_event(&self, org: &OrgId, id: &str) {
        self.ddb()
            .await
            .delete_item()
            .table_name(&self.store.tables().events)
            .key("PK", s(format!("ORG#{org}")))
            .key("SK", s(format!("EVT#{id}")))
            .send()
            .await
            .expect("DeleteItem");
    }

    pub async fn tamper_delete_head(&self, org: &OrgId) {
        self.delete_control(s(format!("ORG#{org}")), s("DIGEST_HEAD".into()))
            .await;
    }

    /// Points the org's chain head (`DIGEST_HEAD`) at the stored digest of
    /// the period starting at `period_start`, as if it were the latest.
    pub async fn tamper_move_head_to(&self, org: &OrgId, period_start: Timestamp) {
        let ddb = self.ddb().await;
        let control = &self.store.tables().control;
        let mut head = ddb
            .get_item()
            .table_name(control)
            .key("PK", digests_pk(org))
            .key("SK", digest_sk(period_start))
            .send()
            .await
            .expect("GetItem")
            .item
            .expect("the digest to move the head to");
        head.insert("PK".into(), s(format!("ORG#{org}")));
        head.insert("SK".into(), s("DIGEST_HEAD".into()));
        head.remove("expires_at");
        ddb.put_item()
            .table_name(control)
            .set_item(Some(head))
            .send()
            .await
            .expect("PutItem");
    }
}
