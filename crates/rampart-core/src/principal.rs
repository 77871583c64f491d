//! The authenticated caller of an API request or protocol operation.

use crate::{Id, Permission, Role};

/// Who is calling, as established by the authentication layer.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Id,
    pub username: String,
    pub role: Role,
    /// `None` for the operator organisation; `Some` for customer users.
    pub tenant_id: Option<Id>,
    /// The token this request authenticated with.
    pub token_id: Id,
    /// The role's permissions intersected with the token's scopes.
    pub permissions: Vec<Permission>,
    /// A login that still has to enrol its second factor may only do that.
    pub enrollment_only: bool,
}

impl Principal {
    pub fn can(&self, permission: Permission) -> bool {
        !self.enrollment_only && self.permissions.contains(&permission)
    }

    /// Whether this caller may see objects of the given tenant. Operator
    /// roles see every tenant; customer roles only their own.
    pub fn may_see_tenant(&self, tenant: Option<&Id>) -> bool {
        match (&self.tenant_id, tenant) {
            (None, _) => true,
            (Some(own), Some(other)) => own == other,
            (Some(_), None) => false,
        }
    }
}
