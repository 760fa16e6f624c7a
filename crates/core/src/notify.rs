//! Who is told of what (通知): the people a step on a case concerns, as
//! pure rules. The store finds the accounts and writes the notices in the
//! step's own transaction; each person chooses the topics they receive.

use crate::access::{Role, may_take};
use crate::case::{Action, ActionKind, Rating, State, action_label};

/// What a notice is about: the unit of a person's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// A resident's own request moved on (受理、派遣、办结 …).
    MyRequest,
    /// A case came to the person's unit (dispatched, or sent back for rework).
    Assigned,
    /// A handler asked for more time.
    ExtensionAsked,
    /// A resident was unsatisfied: a return visit is due.
    Unsatisfied,
    /// A case of the person's unit passed its deadline.
    Overdue,
}

impl Topic {
    pub const ALL: [Topic; 5] = [
        Topic::MyRequest,
        Topic::Assigned,
        Topic::ExtensionAsked,
        Topic::Unsatisfied,
        Topic::Overdue,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Topic::MyRequest => "my_request",
            Topic::Assigned => "assigned",
            Topic::ExtensionAsked => "extension_asked",
            Topic::Unsatisfied => "unsatisfied",
            Topic::Overdue => "overdue",
        }
    }

    pub fn parse(s: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.code() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Topic::MyRequest => "我的诉求的办理进展",
            Topic::Assigned => "派给本单位的工单",
            Topic::ExtensionAsked => "待审批的延期申请",
            Topic::Unsatisfied => "居民不满意、待回访的工单",
            Topic::Overdue => "本单位超期的工单",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Topic::MyRequest => "Progress of my requests",
            Topic::Assigned => "Cases sent to my unit",
            Topic::ExtensionAsked => "Extensions to decide",
            Topic::Unsatisfied => "Unsatisfied residents to visit",
            Topic::Overdue => "My unit's overdue cases",
        }
    }

    /// The topics a role can receive (those offered on its settings page).
    pub fn for_role(role: Role) -> Vec<Topic> {
        Topic::ALL
            .into_iter()
            .filter(|t| match t {
                Topic::MyRequest => role == Role::Resident,
                Topic::Assigned | Topic::Overdue => role == Role::UnitHandler,
                Topic::ExtensionAsked => staff_who_may(ActionKind::DecideExtension).contains(&role),
                Topic::Unsatisfied => staff_who_may(ActionKind::ReturnVisit).contains(&role),
            })
            .collect()
    }
}

/// Who, relative to the case, is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The resident who reported it, through their account.
    Reporter,
    /// The handlers of the unit it is now with.
    UnitHandlers,
    /// Staff of the case's place (its grid, community, subdistrict) in
    /// the roles that may take this step.
    StaffWhoMay(ActionKind),
}

/// The staff roles told when a step of `kind` waits: those over a place
/// that may take it. A district administrator may take every step but is
/// not told of each one across the district.
pub fn staff_who_may(kind: ActionKind) -> Vec<Role> {
    [
        Role::GridMember,
        Role::CommunityWorker,
        Role::CommunitySecretary,
        Role::SubdistrictStaff,
    ]
    .into_iter()
    .filter(|r| may_take(*r, kind))
    .collect()
}

/// The notices of a step just taken: to whom, on which topic. `after` is
/// the case's state after the step.
pub fn after_step(action: &Action, after: State) -> Vec<(Audience, Topic)> {
    let mut out = Vec::new();
    let kind = action.kind();
    // The resident hears of every step that changes what they see, not of
    // internal ones (classification, supervision, a request for time),
    // nor of their own rating.
    if !matches!(
        kind,
        ActionKind::Classify
            | ActionKind::Supervise
            | ActionKind::RequestExtension
            | ActionKind::Rate
    ) {
        out.push((Audience::Reporter, Topic::MyRequest));
    }
    match action {
        Action::Dispatch { .. } | Action::Supplement { .. } => {
            out.push((Audience::UnitHandlers, Topic::Assigned))
        }
        Action::Verify { passed: false, .. } => out.push((Audience::UnitHandlers, Topic::Assigned)),
        Action::ReturnVisit { rework: true, .. } if after == State::Handling => {
            out.push((Audience::UnitHandlers, Topic::Assigned))
        }
        Action::RequestExtension { .. } => out.push((
            Audience::StaffWhoMay(ActionKind::DecideExtension),
            Topic::ExtensionAsked,
        )),
        Action::Rate {
            rating: Rating::Unsatisfied,
            ..
        } => out.push((
            Audience::StaffWhoMay(ActionKind::ReturnVisit),
            Topic::Unsatisfied,
        )),
        _ => {}
    }
    out
}

/// The text of a notice about case `code`, in Chinese and English.
pub fn message(topic: Topic, code: &str, kind: &str, after: State) -> (String, String) {
    let (step_zh, step_en) = action_label(kind);
    match topic {
        Topic::MyRequest => (
            format!("您的诉求 {code}：{step_zh}，现为“{}”", after.label_zh()),
            format!("Your request {code}: {step_en}; now {}", after.label_en()),
        ),
        Topic::Assigned if kind == "supplement" => (
            format!("本单位的工单 {code} 有补充情况"),
            format!("Case {code} of your unit has new details"),
        ),
        Topic::Assigned => (
            format!("工单 {code} 派给了本单位（{step_zh}），请签收办理"),
            format!("Case {code} came to your unit ({step_en}): please accept it"),
        ),
        Topic::ExtensionAsked => (
            format!("工单 {code} 申请延期，待您审批"),
            format!("Case {code}: an extension waits for your decision"),
        ),
        Topic::Unsatisfied => (
            format!("工单 {code} 居民评价不满意，请回访"),
            format!("Case {code}: the resident is unsatisfied; a return visit is due"),
        ),
        Topic::Overdue => (
            format!("工单 {code} 已超期"),
            format!("Case {code} is overdue"),
        ),
    }
}

/// What a resident who joined someone else's request (我也遇到) is told
/// of its step: it is not "your" request.
pub fn follower_message(code: &str, kind: &str, after: State) -> (String, String) {
    let (step_zh, step_en) = action_label(kind);
    (
        format!(
            "您也遇到的问题（诉求 {code}）：{step_zh}，现为“{}”",
            after.label_zh()
        ),
        format!(
            "The problem you also reported (request {code}): {step_en}; now {}",
            after.label_en()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn a_dispatch_tells_the_unit_and_the_resident() {
        let n = after_step(&Action::Dispatch { unit: 3 }, State::Dispatched);
        assert!(n.contains(&(Audience::UnitHandlers, Topic::Assigned)));
        assert!(n.contains(&(Audience::Reporter, Topic::MyRequest)));
    }

    #[test]
    fn internal_steps_do_not_reach_the_resident() {
        for a in [
            Action::Classify { category: txt("x") },
            Action::Supervise { note: txt("快") },
            Action::RequestExtension {
                working_days: 2,
                reason: txt("等"),
            },
        ] {
            assert!(
                !after_step(&a, State::Handling)
                    .iter()
                    .any(|(w, _)| *w == Audience::Reporter),
                "{a:?}"
            );
        }
    }

    #[test]
    fn an_extension_and_an_unsatisfied_rating_go_to_those_who_may_act() {
        let n = after_step(
            &Action::RequestExtension {
                working_days: 2,
                reason: txt("等配件"),
            },
            State::Handling,
        );
        assert_eq!(
            n,
            vec![(
                Audience::StaffWhoMay(ActionKind::DecideExtension),
                Topic::ExtensionAsked
            )]
        );
        assert_eq!(
            staff_who_may(ActionKind::DecideExtension),
            vec![Role::CommunitySecretary, Role::SubdistrictStaff]
        );
        let n = after_step(
            &Action::Rate {
                rating: Rating::Unsatisfied,
                comment: txt(""),
            },
            State::Rated,
        );
        assert_eq!(
            n,
            vec![(
                Audience::StaffWhoMay(ActionKind::ReturnVisit),
                Topic::Unsatisfied
            )]
        );
        let satisfied = Action::Rate {
            rating: Rating::Satisfied,
            comment: txt(""),
        };
        assert!(after_step(&satisfied, State::Rated).is_empty());
    }

    #[test]
    fn each_role_is_offered_its_topics() {
        assert_eq!(Topic::for_role(Role::Resident), vec![Topic::MyRequest]);
        assert_eq!(
            Topic::for_role(Role::UnitHandler),
            vec![Topic::Assigned, Topic::Overdue]
        );
        assert!(Topic::for_role(Role::CommunitySecretary).contains(&Topic::ExtensionAsked));
        assert!(Topic::for_role(Role::Auditor).is_empty());
        for t in Topic::ALL {
            assert_eq!(Topic::parse(t.code()), Some(t));
        }
    }

    #[test]
    fn messages_name_the_case() {
        let (zh, en) = message(Topic::MyRequest, "GD1", "dispatch", State::Dispatched);
        assert_eq!(zh, "您的诉求 GD1：派遣，现为“已派遣”");
        assert!(en.contains("GD1"));
        let (zh, _) = follower_message("GD1", "dispatch", State::Dispatched);
        assert_eq!(zh, "您也遇到的问题（诉求 GD1）：派遣，现为“已派遣”");
    }
}
