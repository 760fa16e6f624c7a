//! Who may do what: the roles of a community-governance platform, what
//! each may do, and how far its data reaches. Pure rules; the web layer
//! asks [`allows`] before a handler runs and the store narrows every query
//! to the caller's reach.

use serde::{Deserialize, Serialize};

use crate::case::ActionKind;
use crate::msg::Msg;

/// A role an account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 居民: their own requests and household.
    Resident,
    /// 网格员: the households of their grids, patrol reports, verification.
    GridMember,
    /// 社区工作者: one-window intake, case queue, registry of the community.
    CommunityWorker,
    /// 社区书记: as a worker, plus decisions (extensions, supervision, escalation).
    CommunitySecretary,
    /// 街道工作人员: the subdistrict's communities, dispatch, supervision.
    SubdistrictStaff,
    /// 职能部门/承办单位: the cases dispatched to their unit.
    UnitHandler,
    /// 志愿者: tasks they take on (no personal data; nothing yet).
    Volunteer,
    /// 社会组织: as a volunteer, for an organisation.
    SocialOrganisation,
    /// 区管理员: everything, accounts and settings included.
    DistrictAdmin,
    /// 审计员: reads everything, changes nothing.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::Resident,
        Role::GridMember,
        Role::CommunityWorker,
        Role::CommunitySecretary,
        Role::SubdistrictStaff,
        Role::UnitHandler,
        Role::Volunteer,
        Role::SocialOrganisation,
        Role::DistrictAdmin,
        Role::Auditor,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::Resident => "resident",
            Role::GridMember => "grid_member",
            Role::CommunityWorker => "community_worker",
            Role::CommunitySecretary => "community_secretary",
            Role::SubdistrictStaff => "subdistrict_staff",
            Role::UnitHandler => "unit_handler",
            Role::Volunteer => "volunteer",
            Role::SocialOrganisation => "social_organisation",
            Role::DistrictAdmin => "district_admin",
            Role::Auditor => "auditor",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Resident => "居民",
            Role::GridMember => "网格员",
            Role::CommunityWorker => "社区工作者",
            Role::CommunitySecretary => "社区书记",
            Role::SubdistrictStaff => "街道工作人员",
            Role::UnitHandler => "承办单位",
            Role::Volunteer => "志愿者",
            Role::SocialOrganisation => "社会组织",
            Role::DistrictAdmin => "区管理员",
            Role::Auditor => "审计员",
        }
    }

    /// The role's name for an English page (never its code).
    pub fn label_en(self) -> &'static str {
        match self {
            Role::Resident => "resident",
            Role::GridMember => "grid member",
            Role::CommunityWorker => "community worker",
            Role::CommunitySecretary => "community secretary",
            Role::SubdistrictStaff => "subdistrict staff",
            Role::UnitHandler => "unit handler",
            Role::Volunteer => "volunteer",
            Role::SocialOrganisation => "social organisation",
            Role::DistrictAdmin => "district administrator",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Result<Role, Msg> {
        Role::ALL
            .into_iter()
            .find(|r| r.code() == s.trim())
            .ok_or_else(|| {
                Msg::new(
                    format!(
                        "unknown role '{s}' (expected one of: {})",
                        Role::ALL.map(|r| r.code()).join(", ")
                    ),
                    format!("没有“{s}”这个角色"),
                )
            })
    }

    /// How far the role's data reaches.
    pub fn reach(self) -> Reach {
        match self {
            Role::Resident => Reach::OwnRecords,
            Role::UnitHandler => Reach::UnitCases,
            Role::Volunteer | Role::SocialOrganisation => Reach::OwnRecords,
            Role::GridMember
            | Role::CommunityWorker
            | Role::CommunitySecretary
            | Role::SubdistrictStaff => Reach::OrgSubtree,
            Role::DistrictAdmin | Role::Auditor => Reach::OrgSubtree,
        }
    }

    /// An account of this role must be attached to an org unit (its
    /// subtree is the reach) or to a handling unit.
    pub fn needs_org(self) -> bool {
        self.reach() == Reach::OrgSubtree
    }

    pub fn needs_unit(self) -> bool {
        self.reach() == Reach::UnitCases
    }
}

/// The data a role can reach; the store turns it into a query condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Records the account itself made or is the subject of.
    OwnRecords,
    /// The account's org unit and everything below it.
    OrgSubtree,
    /// Cases dispatched to the account's handling unit.
    UnitCases,
}

/// What a request asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Org tree, grids, posts, statistics.
    ReadOrg,
    /// Households and people, masked.
    ReadRegistry,
    /// One person's full ID number or phone (written to the audit log).
    Unmask,
    /// Import registry, compounds or grids; edit the registry.
    WriteRegistry,
    /// Export to Excel/CSV.
    Export,
    /// Read cases (within the reach).
    ReadCases,
    /// Register a request for oneself (residents) or for others (counter, patrol, hotline).
    RegisterCase,
    /// Import a batch of requests (12345 hotline transfers).
    ImportCases,
    /// Take a step on a case; which steps is [`may_take`].
    ActOnCase,
    /// Upload a photo to a case.
    AddPhoto,
    /// Rates and alerts.
    ReadRates,
    /// Categories, calendar, units, dispatch rules.
    ManageSettings,
    /// Staff accounts and API keys.
    ManageAccounts,
    /// The audit log.
    ReadAudit,
}

impl Permission {
    pub const ALL: [Permission; 14] = [
        Permission::ReadOrg,
        Permission::ReadRegistry,
        Permission::Unmask,
        Permission::WriteRegistry,
        Permission::Export,
        Permission::ReadCases,
        Permission::RegisterCase,
        Permission::ImportCases,
        Permission::ActOnCase,
        Permission::AddPhoto,
        Permission::ReadRates,
        Permission::ManageSettings,
        Permission::ManageAccounts,
        Permission::ReadAudit,
    ];
}

/// Whether a role may do something at all (its reach then limits where).
pub fn allows(role: Role, p: Permission) -> bool {
    use Permission::*;
    use Role::*;
    match role {
        DistrictAdmin => true,
        Auditor => matches!(
            p,
            ReadOrg | ReadRegistry | ReadCases | ReadRates | ReadAudit | Export
        ),
        SubdistrictStaff => !matches!(p, ManageAccounts | ReadAudit | ManageSettings | Unmask),
        CommunitySecretary => !matches!(p, ManageAccounts | ReadAudit | ManageSettings),
        CommunityWorker => !matches!(p, ManageAccounts | ReadAudit | ManageSettings | Unmask),
        GridMember => matches!(
            p,
            ReadOrg | ReadRegistry | ReadCases | RegisterCase | ActOnCase | AddPhoto
        ),
        UnitHandler => matches!(p, ReadCases | ActOnCase | AddPhoto | ReadRates),
        Resident => matches!(p, ReadCases | RegisterCase | ActOnCase | AddPhoto),
        // Their own capability (matching needs to helpers) has not landed:
        // until it does they sign in and see their account, nothing else.
        Volunteer | SocialOrganisation => false,
    }
}

/// Whether a role may take a step of the loop (by the action's kind, as
/// [`crate::case::Action::kind`] names it). The state machine then says
/// whether the step is allowed now.
pub fn may_take(role: Role, action: ActionKind) -> bool {
    use ActionKind as K;
    use Role::*;
    match role {
        DistrictAdmin => true,
        Auditor | Volunteer | SocialOrganisation => false,
        // Residents rate and reopen their own cases, nothing else.
        Resident => matches!(action, K::Rate | K::Reopen | K::Supplement),
        // The handler's part: accept or send back, handle, ask for time.
        UnitHandler => matches!(
            action,
            K::Accept | K::SendBack | K::ReportBack | K::RequestExtension
        ),
        // On patrol: register and classify what they find, verify handled cases.
        GridMember => matches!(
            action,
            K::Classify | K::Verify | K::AnswerOnSpot | K::ReturnVisit | K::Supplement
        ),
        CommunityWorker => !matches!(action, K::DecideExtension | K::Supervise),
        CommunitySecretary | SubdistrictStaff => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_roles_are_named() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.code()).unwrap(), r);
        }
        let e = Role::parse("superuser").unwrap_err();
        assert!(
            e.en.contains("superuser") && e.en.contains("district_admin"),
            "{}",
            e.en
        );
    }

    #[test]
    fn the_auditor_reads_but_never_changes() {
        for p in Permission::ALL {
            let writes = matches!(
                p,
                Permission::WriteRegistry
                    | Permission::RegisterCase
                    | Permission::ImportCases
                    | Permission::ActOnCase
                    | Permission::AddPhoto
                    | Permission::ManageSettings
                    | Permission::ManageAccounts
                    | Permission::Unmask
            );
            assert_eq!(allows(Role::Auditor, p), !writes, "{p:?}");
        }
        assert!(!may_take(Role::Auditor, ActionKind::Open));
    }

    #[test]
    fn only_administrators_manage_accounts_and_settings() {
        for r in Role::ALL {
            let admin = r == Role::DistrictAdmin;
            assert_eq!(allows(r, Permission::ManageAccounts), admin, "{r:?}");
            assert_eq!(allows(r, Permission::ManageSettings), admin, "{r:?}");
        }
    }

    #[test]
    fn residents_and_handlers_take_only_their_steps() {
        use ActionKind as K;
        for a in [
            K::Open,
            K::Dispatch,
            K::Verify,
            K::DecideExtension,
            K::Merge,
        ] {
            assert!(!may_take(Role::Resident, a), "{a:?}");
            assert!(!may_take(Role::UnitHandler, a), "{a:?}");
        }
        assert!(may_take(Role::Resident, K::Rate));
        assert!(may_take(Role::UnitHandler, K::ReportBack));
        assert!(!may_take(Role::CommunityWorker, K::DecideExtension));
        assert!(may_take(Role::CommunitySecretary, K::DecideExtension));
        // Nobody without personal-data rights unmasks.
        for r in [
            Role::GridMember,
            Role::UnitHandler,
            Role::Resident,
            Role::Volunteer,
        ] {
            assert!(!allows(r, Permission::Unmask), "{r:?}");
        }
    }

    #[test]
    fn reach_follows_the_role() {
        assert_eq!(Role::Resident.reach(), Reach::OwnRecords);
        assert_eq!(Role::UnitHandler.reach(), Reach::UnitCases);
        assert!(Role::GridMember.needs_org());
        assert!(Role::UnitHandler.needs_unit());
        assert!(!Role::Resident.needs_org());
    }
}
