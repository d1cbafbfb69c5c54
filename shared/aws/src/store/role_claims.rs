//! Which org an IAM role belongs to, for S3 destinations: `ROLE#<arn>` /
//! `CLAIM` holds the org that first named the role. A second org naming it
//! is refused (the confused deputy: org A writing into org B's bucket with
//! the export function's trust), and the claim is released when the org's
//! last destination naming the role goes.

use audit_domain::ids::OrgId;

use super::{s, written, Store, StoreError};

const SK: &str = "CLAIM";

fn pk(role_arn: &str) -> String {
    format!("ROLE#{role_arn}")
}

impl Store {
    /// Claims `role_arn` for `org`; true when it is now (or already was)
    /// `org`'s, false when another org holds it.
    pub async fn claim_role(&self, role_arn: &str, org: &OrgId) -> Result<bool, StoreError> {
        let result = self
            .ddb
            .put_item()
            .table_name(&self.tables.control)
            .item("PK", s(pk(role_arn)))
            .item("SK", s(SK))
            .item("org_id", s(org.as_str()))
            .condition_expression("attribute_not_exists(PK) OR org_id = :org")
            .expression_attribute_values(":org", s(org.as_str()))
            .send()
            .await;
        written("PutItem", result)
    }

    /// Releases `org`'s claim on `role_arn` (another org's is left alone);
    /// true when this call released it.
    pub async fn release_role(&self, role_arn: &str, org: &OrgId) -> Result<bool, StoreError> {
        let result = self
            .ddb
            .delete_item()
            .table_name(&self.tables.control)
            .key("PK", s(pk(role_arn)))
            .key("SK", s(SK))
            .condition_expression("org_id = :org")
            .expression_attribute_values(":org", s(org.as_str()))
            .send()
            .await;
        written("DeleteItem", result)
    }
}
