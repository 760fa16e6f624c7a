//! What waits for whom (待办): each role's to-do list as pure rules. A
//! to-do is a set of cases in the viewer's area (by state, deadline,
//! pending extension or rating); a role has the to-dos whose next step it
//! may take.

use crate::access::{Role, may_take};
use crate::case::{ActionKind, Rating, State};

/// The cases a to-do counts are those with the listed state (when one is
/// given) that also meet its condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Todo {
    /// 待分类: registered, no category yet.
    ToClassify,
    /// 待立案: classified, waiting to be opened (or answered, refused).
    ToOpen,
    /// 待派遣: opened, waiting for a unit.
    ToDispatch,
    /// 待签收: dispatched, waiting for the unit to accept.
    ToAccept,
    /// 待核查: reported back, waiting for verification.
    ToVerify,
    /// 延期待批: an extension asked for and not decided.
    ExtensionPending,
    /// 即将超期: open, due within [`DUE_SOON_MS`].
    DueSoon,
    /// 已超期: open and past its deadline.
    Overdue,
    /// 不满意待回访: rated unsatisfied, neither reworked nor explained.
    Unsatisfied,
    /// 待评价: a resident's own closed case, waiting for their rating.
    ToRate,
}

/// "Due soon" is within one day.
pub const DUE_SOON_MS: i64 = 24 * 3600 * 1000;

/// What a to-do asks of a case, beyond the caller's area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The case is in this state.
    InState(State),
    /// Open (still owed work) with a deadline in `[now + from_ms, now +
    /// to_ms)`; no `from_ms`: any time before.
    Due { from_ms: Option<i64>, to_ms: i64 },
    /// Open, with an extension pending.
    ExtensionPending,
    /// Rated with this rating and not closed with an explanation.
    RatedUnexplained(Rating),
}

impl Todo {
    pub const ALL: [Todo; 10] = [
        Todo::ToClassify,
        Todo::ToOpen,
        Todo::ToDispatch,
        Todo::ToAccept,
        Todo::ToVerify,
        Todo::ExtensionPending,
        Todo::DueSoon,
        Todo::Overdue,
        Todo::Unsatisfied,
        Todo::ToRate,
    ];

    /// The spelling in addresses (`/cases?todo=to_verify`) and JSON.
    pub fn code(self) -> &'static str {
        match self {
            Todo::ToClassify => "to_classify",
            Todo::ToOpen => "to_open",
            Todo::ToDispatch => "to_dispatch",
            Todo::ToAccept => "to_accept",
            Todo::ToVerify => "to_verify",
            Todo::ExtensionPending => "extension_pending",
            Todo::DueSoon => "due_soon",
            Todo::Overdue => "overdue",
            Todo::Unsatisfied => "unsatisfied",
            Todo::ToRate => "to_rate",
        }
    }

    pub fn parse(s: &str) -> Option<Todo> {
        Todo::ALL.into_iter().find(|t| t.code() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Todo::ToClassify => "待分类",
            Todo::ToOpen => "待立案",
            Todo::ToDispatch => "待派遣",
            Todo::ToAccept => "待签收",
            Todo::ToVerify => "待核查",
            Todo::ExtensionPending => "延期待批",
            Todo::DueSoon => "即将超期",
            Todo::Overdue => "已超期",
            Todo::Unsatisfied => "不满意待回访",
            Todo::ToRate => "待评价",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Todo::ToClassify => "To classify",
            Todo::ToOpen => "To open",
            Todo::ToDispatch => "To dispatch",
            Todo::ToAccept => "To accept",
            Todo::ToVerify => "To verify",
            Todo::ExtensionPending => "Extensions to decide",
            Todo::DueSoon => "Due within a day",
            Todo::Overdue => "Overdue",
            Todo::Unsatisfied => "Unsatisfied: return visit",
            Todo::ToRate => "To rate",
        }
    }

    /// Whether the count is a warning (shown in red) rather than work
    /// in the ordinary course.
    pub fn is_alarm(self) -> bool {
        matches!(self, Todo::Overdue | Todo::Unsatisfied)
    }

    pub fn condition(self) -> Condition {
        match self {
            Todo::ToClassify => Condition::InState(State::Registered),
            Todo::ToOpen => Condition::InState(State::Classified),
            Todo::ToDispatch => Condition::InState(State::Opened),
            Todo::ToAccept => Condition::InState(State::Dispatched),
            Todo::ToVerify => Condition::InState(State::ReportedBack),
            Todo::ExtensionPending => Condition::ExtensionPending,
            Todo::DueSoon => Condition::Due {
                from_ms: Some(0),
                to_ms: DUE_SOON_MS,
            },
            Todo::Overdue => Condition::Due {
                from_ms: None,
                to_ms: 0,
            },
            Todo::Unsatisfied => Condition::RatedUnexplained(Rating::Unsatisfied),
            Todo::ToRate => Condition::InState(State::Closed),
        }
    }

    /// The step that clears the to-do: a role has the to-do when it may
    /// take that step. Deadlines concern everyone who works on cases.
    fn step(self) -> Option<ActionKind> {
        match self {
            Todo::ToClassify => Some(ActionKind::Classify),
            Todo::ToOpen => Some(ActionKind::Open),
            Todo::ToDispatch => Some(ActionKind::Dispatch),
            Todo::ToAccept => Some(ActionKind::Accept),
            Todo::ToVerify => Some(ActionKind::Verify),
            Todo::ExtensionPending => Some(ActionKind::DecideExtension),
            Todo::Unsatisfied => Some(ActionKind::ReturnVisit),
            Todo::ToRate => Some(ActionKind::Rate),
            Todo::DueSoon | Todo::Overdue => None,
        }
    }

    /// The to-do list of a role, in working order.
    pub fn for_role(role: Role) -> Vec<Todo> {
        // Those who work on cases: who may accept one (a unit) or classify
        // one (staff); not the resident who reports and rates.
        let works_cases =
            may_take(role, ActionKind::Accept) || may_take(role, ActionKind::Classify);
        Todo::ALL
            .into_iter()
            .filter(|t| match t.step() {
                // A resident rates their own; staff do not "rate".
                Some(ActionKind::Rate) => role == Role::Resident,
                Some(k) => may_take(role, k),
                None => works_cases,
            })
            .collect()
    }
}

/// In the API document a to-do is one of its codes.
impl schemars::JsonSchema for Todo {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Todo".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let codes: Vec<&str> = Todo::ALL.iter().map(|t| t.code()).collect();
        schemars::json_schema!({"type": "string", "enum": codes})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for t in Todo::ALL {
            assert_eq!(Todo::parse(t.code()), Some(t));
        }
        assert_eq!(Todo::parse("nope"), None);
    }

    #[test]
    fn each_role_has_the_to_dos_of_its_steps() {
        use Todo::*;
        assert_eq!(Todo::for_role(Role::Resident), vec![ToRate]);
        assert_eq!(
            Todo::for_role(Role::UnitHandler),
            vec![ToAccept, DueSoon, Overdue]
        );
        let worker = Todo::for_role(Role::CommunityWorker);
        assert!(worker.contains(&ToVerify) && worker.contains(&Unsatisfied));
        assert!(
            !worker.contains(&ExtensionPending),
            "a worker does not decide extensions"
        );
        assert!(Todo::for_role(Role::CommunitySecretary).contains(&ExtensionPending));
        let grid = Todo::for_role(Role::GridMember);
        assert!(
            grid.contains(&ToVerify) && grid.contains(&ToClassify) && !grid.contains(&ToDispatch)
        );
        assert!(Todo::for_role(Role::Auditor).is_empty());
        assert!(Todo::for_role(Role::Volunteer).is_empty());
    }

    #[test]
    fn every_state_to_do_names_a_state_its_step_starts_from() {
        for t in Todo::ALL {
            if let (Condition::InState(s), Some(k)) = (t.condition(), t.step()) {
                let mut f = crate::case::Facts::new();
                f.state = s;
                assert!(crate::case::allowed(&f).contains(&k), "{t:?}");
            }
        }
    }
}
