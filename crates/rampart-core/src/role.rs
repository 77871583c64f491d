//! Roles and the permissions they grant.
//!
//! Authorisation is deny by default: a request is allowed only when the
//! route's [`Permission`] is in the caller's effective set, which is the
//! role's set intersected with the token's scopes. Tenant confinement of the
//! customer roles is enforced by the services on top of this check.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The fixed roles of a Rampart deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the platform: users, tenants, configuration.
    Admin,
    /// Works alarms, incidents and audit trails.
    SecurityOperator,
    /// Operates backend systems (through the bastion, later).
    OperationsEngineer,
    /// Reads everything, including the audit trail; changes nothing.
    Auditor,
    /// A customer's administrator, confined to that customer's tenant.
    CustomerAdmin,
    /// A customer's user, confined to that customer's tenant.
    CustomerUser,
}

/// What a route or protocol entry point needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read users (customer roles: only their own tenant's).
    UserRead,
    /// Create, disable users and reset their second factor.
    UserWrite,
    /// Read tenants (customer roles: only their own).
    TenantRead,
    /// Create tenants.
    TenantWrite,
    /// Manage one's own API tokens.
    TokenSelf,
    /// Manage one's own access key pairs.
    AccessKeySelf,
    /// Read the audit trail.
    AuditRead,
    /// Read platform configuration and status.
    SystemRead,
    /// Change the platform's operational state, such as sealing the KMS.
    /// Only the administrator holds it.
    SystemWrite,
    /// Use KMS keys of one's tenant: encrypt, decrypt, data keys, describe.
    KmsUse,
    /// Manage KMS keys of one's tenant: create, enable, disable, rotate,
    /// schedule deletion, aliases.
    KmsManage,
    /// Read the log source registry.
    SourceRead,
    /// Register, change, review and remove log sources.
    SourceWrite,
    /// Register and remove one's own SSH public keys for the bastion.
    SshKeySelf,
    /// Manage bastion targets and grants. Only the administrator holds it.
    BastionManage,
    /// Approve or deny commands held by a `review` red line (never one's own).
    BastionReview,
    /// Approve, deny or revoke just-in-time bastion access requests (never
    /// one's own). Apart from `BastionReview` because letting one held
    /// command run and handing out access to a target for hours are not
    /// the same power: a token scoped to review commands cannot grant access.
    BastionApprove,
    /// As a tenant's customer admin: approve or deny access to the tenant's
    /// data on lockbox targets, and see every such access (the access
    /// transparency view). Effective only inside one's own tenant.
    LockboxApprove,
    /// Read alarm, vulnerability and incident tickets (customer roles: only
    /// their own tenant's).
    TicketRead,
    /// Work tickets: acknowledge, assign, change status, resolve, comment.
    TicketWrite,
    /// See the notification outbox and its dead-letter list, and re-drive
    /// dead letters.
    NotifyManage,
    /// Read the detection rules, their rejections and the detection stage's status.
    DetectRead,
    /// Reload the detection rules.
    DetectWrite,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::SecurityOperator,
        Role::OperationsEngineer,
        Role::Auditor,
        Role::CustomerAdmin,
        Role::CustomerUser,
    ];

    /// The permissions this role grants.
    pub fn permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Admin => &Permission::ALL,
            Role::SecurityOperator => &[
                UserRead,
                TenantRead,
                TokenSelf,
                AccessKeySelf,
                AuditRead,
                SystemRead,
                SourceRead,
                SourceWrite,
                SshKeySelf,
                BastionReview,
                BastionApprove,
                TicketRead,
                TicketWrite,
                NotifyManage,
                DetectRead,
                DetectWrite,
            ],
            // Works the incidents assigned to them.
            Role::OperationsEngineer => {
                &[TenantRead, TokenSelf, AccessKeySelf, SystemRead, SourceRead, SshKeySelf, TicketRead, TicketWrite]
            }
            // Read-only over everything: every *Read permission, and its own tokens.
            Role::Auditor => {
                &[UserRead, TenantRead, AuditRead, SystemRead, SourceRead, TokenSelf, TicketRead, DetectRead]
            }
            // Sees its own tenant's tickets; the operator's SOC works them.
            Role::CustomerAdmin => &[
                UserRead,
                UserWrite,
                TenantRead,
                TokenSelf,
                AccessKeySelf,
                KmsUse,
                KmsManage,
                TicketRead,
                LockboxApprove,
            ],
            Role::CustomerUser => &[TenantRead, TokenSelf, AccessKeySelf, KmsUse],
        }
    }

    pub fn has(self, permission: Permission) -> bool {
        self.permissions().contains(&permission)
    }

    /// Roles that must log in with a second factor.
    pub fn requires_totp(self) -> bool {
        matches!(self, Role::Admin | Role::SecurityOperator | Role::OperationsEngineer)
    }

    /// Roles that belong to a customer tenant rather than to the operator.
    pub fn is_customer(self) -> bool {
        matches!(self, Role::CustomerAdmin | Role::CustomerUser)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::SecurityOperator => "security_operator",
            Role::OperationsEngineer => "operations_engineer",
            Role::Auditor => "auditor",
            Role::CustomerAdmin => "customer_admin",
            Role::CustomerUser => "customer_user",
        }
    }
}

impl Permission {
    pub const ALL: [Permission; 23] = [
        Permission::UserRead,
        Permission::UserWrite,
        Permission::TenantRead,
        Permission::TenantWrite,
        Permission::TokenSelf,
        Permission::AccessKeySelf,
        Permission::AuditRead,
        Permission::SystemRead,
        Permission::SystemWrite,
        Permission::KmsUse,
        Permission::KmsManage,
        Permission::SourceRead,
        Permission::SourceWrite,
        Permission::SshKeySelf,
        Permission::BastionManage,
        Permission::BastionReview,
        Permission::BastionApprove,
        Permission::LockboxApprove,
        Permission::TicketRead,
        Permission::TicketWrite,
        Permission::NotifyManage,
        Permission::DetectRead,
        Permission::DetectWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::UserRead => "user_read",
            Permission::UserWrite => "user_write",
            Permission::TenantRead => "tenant_read",
            Permission::TenantWrite => "tenant_write",
            Permission::TokenSelf => "token_self",
            Permission::AccessKeySelf => "access_key_self",
            Permission::AuditRead => "audit_read",
            Permission::SystemRead => "system_read",
            Permission::SystemWrite => "system_write",
            Permission::KmsUse => "kms_use",
            Permission::KmsManage => "kms_manage",
            Permission::SourceRead => "source_read",
            Permission::SourceWrite => "source_write",
            Permission::SshKeySelf => "ssh_key_self",
            Permission::BastionManage => "bastion_manage",
            Permission::BastionReview => "bastion_review",
            Permission::BastionApprove => "bastion_approve",
            Permission::LockboxApprove => "lockbox_approve",
            Permission::TicketRead => "ticket_read",
            Permission::TicketWrite => "ticket_write",
            Permission::NotifyManage => "notify_manage",
            Permission::DetectRead => "detect_read",
            Permission::DetectWrite => "detect_write",
        }
    }
}

/// A role or permission name that is not one of ours.
#[derive(Debug, thiserror::Error)]
#[error("unknown {kind} {name:?}; expected one of: {expected}")]
pub struct UnknownName {
    kind: &'static str,
    name: String,
    expected: String,
}

impl FromStr for Role {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| UnknownName {
            kind: "role",
            name: s.to_owned(),
            expected: Role::ALL.map(Role::as_str).join(", "),
        })
    }
}

impl FromStr for Permission {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| UnknownName {
            kind: "permission",
            name: s.to_owned(),
            expected: Permission::ALL.map(Permission::as_str).join(", "),
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().ok(), Some(r));
        }
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>().ok(), Some(p));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn auditor_holds_no_write_permission() {
        for p in Role::Auditor.permissions() {
            assert!(
                !matches!(
                    p,
                    Permission::UserWrite
                        | Permission::TenantWrite
                        | Permission::SystemWrite
                        | Permission::TicketWrite
                        | Permission::NotifyManage
                        | Permission::DetectWrite
                ),
                "auditor must be read-only, but has {p}"
            );
        }
    }

    #[test]
    fn customer_roles_cannot_create_tenants_or_read_audit() {
        for r in [Role::CustomerAdmin, Role::CustomerUser] {
            assert!(!r.has(Permission::TenantWrite));
            assert!(!r.has(Permission::AuditRead));
            assert!(!r.requires_totp());
        }
    }
}
