//! The closed loop of a request (诉求) and its case (工单) as an explicit
//! state machine. Pure: the store persists what [`apply`] decides.
//!
//! register → classify → answer on the spot | refuse | open → dispatch →
//! accept (or send back) → report back → verify → close (or return for
//! rework) → rate. Also: extension, supervision (督办), escalation
//! community → subdistrict → district (吹哨报到), merge, reopen.

use serde::{Deserialize, Serialize};

use crate::msg::Msg;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// 已登记: received from a channel, not yet classified.
    Registered,
    /// 已分类: has a category; to be answered, refused or opened.
    Classified,
    /// 已立案: a case with deadlines, waiting for dispatch.
    Opened,
    /// 已派遣: sent to a unit, waiting for it to accept.
    Dispatched,
    /// 处置中: the unit accepted and is handling it.
    Handling,
    /// 已反馈: the unit reported back; waiting for verification.
    ReportedBack,
    /// 已结案: closed; waiting for the resident's rating.
    Closed,
    /// 已评价: rated by the resident (final unless reopened).
    Rated,
    /// 不予受理: refused with a reason (final unless reopened).
    Refused,
    /// 已合并: a duplicate merged into a parent case (final).
    Merged,
}

impl State {
    pub const ALL: [State; 10] = [
        State::Registered,
        State::Classified,
        State::Opened,
        State::Dispatched,
        State::Handling,
        State::ReportedBack,
        State::Closed,
        State::Rated,
        State::Refused,
        State::Merged,
    ];

    pub fn code(self) -> &'static str {
        match self {
            State::Registered => "registered",
            State::Classified => "classified",
            State::Opened => "opened",
            State::Dispatched => "dispatched",
            State::Handling => "handling",
            State::ReportedBack => "reported_back",
            State::Closed => "closed",
            State::Rated => "rated",
            State::Refused => "refused",
            State::Merged => "merged",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            State::Registered => "已登记",
            State::Classified => "已分类",
            State::Opened => "已立案",
            State::Dispatched => "已派遣",
            State::Handling => "处置中",
            State::ReportedBack => "已反馈",
            State::Closed => "已结案",
            State::Rated => "已评价",
            State::Refused => "不予受理",
            State::Merged => "已合并",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.code() == s)
    }

    pub fn label_en(self) -> &'static str {
        match self {
            State::Registered => "Registered",
            State::Classified => "Classified",
            State::Opened => "Opened",
            State::Dispatched => "Dispatched",
            State::Handling => "Being handled",
            State::ReportedBack => "Reported back",
            State::Closed => "Closed",
            State::Rated => "Rated",
            State::Refused => "Refused",
            State::Merged => "Merged",
        }
    }

    /// Still owed work by someone (counts towards overdue).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            State::Registered
                | State::Classified
                | State::Opened
                | State::Dispatched
                | State::Handling
                | State::ReportedBack
        )
    }

    /// Open311 status: everything not finished is "open".
    pub fn open311_status(self) -> &'static str {
        if self.is_open() { "open" } else { "closed" }
    }
}

/// Who must act on the case: "small matters stay in the community, big ones
/// in the subdistrict" (小事不出社区，大事不出街道).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Community,
    Subdistrict,
    District,
}

impl Level {
    pub fn code(self) -> &'static str {
        match self {
            Level::Community => "community",
            Level::Subdistrict => "subdistrict",
            Level::District => "district",
        }
    }
    pub fn parse(s: &str) -> Option<Level> {
        [Level::Community, Level::Subdistrict, Level::District]
            .into_iter()
            .find(|l| l.code() == s)
    }
    pub fn up(self) -> Option<Level> {
        match self {
            Level::Community => Some(Level::Subdistrict),
            Level::Subdistrict => Some(Level::District),
            Level::District => None,
        }
    }
}

/// The resident's rating (满意/基本满意/不满意).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    #[serde(alias = "满意")]
    Satisfied,
    #[serde(alias = "基本满意")]
    BasicallySatisfied,
    #[serde(alias = "不满意")]
    Unsatisfied,
}

impl Rating {
    pub fn code(self) -> &'static str {
        match self {
            Rating::Satisfied => "satisfied",
            Rating::BasicallySatisfied => "basically_satisfied",
            Rating::Unsatisfied => "unsatisfied",
        }
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            Rating::Satisfied => "满意",
            Rating::BasicallySatisfied => "基本满意",
            Rating::Unsatisfied => "不满意",
        }
    }
    pub fn label_en(self) -> &'static str {
        match self {
            Rating::Satisfied => "Satisfied",
            Rating::BasicallySatisfied => "Basically satisfied",
            Rating::Unsatisfied => "Unsatisfied",
        }
    }
    pub fn parse(s: &str) -> Option<Rating> {
        match s.trim() {
            "satisfied" | "满意" => Some(Rating::Satisfied),
            "basically_satisfied" | "基本满意" => Some(Rating::BasicallySatisfied),
            "unsatisfied" | "不满意" => Some(Rating::Unsatisfied),
            _ => None,
        }
    }
}

/// How a closed case was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Answered on the spot (即时办结), no case work needed.
    Answered,
    /// Handled, reported back and verified.
    Resolved,
    /// The resident stayed unsatisfied and a return visit (回访) explained
    /// why the case is closed all the same (解释办结): counted as
    /// unsatisfied, no longer waiting for a visit.
    Explained,
}

impl Resolution {
    /// The spelling in the database.
    pub fn code(self) -> &'static str {
        match self {
            Resolution::Answered => "answered",
            Resolution::Resolved => "resolved",
            Resolution::Explained => "explained",
        }
    }

    pub fn parse(s: &str) -> Option<Resolution> {
        [
            Resolution::Answered,
            Resolution::Resolved,
            Resolution::Explained,
        ]
        .into_iter()
        .find(|r| r.code() == s)
    }
}

/// Everything the machine needs to know about a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub state: State,
    pub level: Level,
    pub category: Option<String>,
    pub unit: Option<i64>,
    pub resolution: Option<Resolution>,
    pub rating: Option<Rating>,
    /// Working days asked for and not yet decided.
    pub extension_pending: Option<u32>,
    pub rework_count: u32,
    pub reopen_count: u32,
    pub supervision_count: u32,
    pub extension_count: u32,
    pub escalation_count: u32,
    pub parent: Option<i64>,
}

impl Facts {
    pub fn new() -> Self {
        Facts {
            state: State::Registered,
            level: Level::Community,
            category: None,
            unit: None,
            resolution: None,
            rating: None,
            extension_pending: None,
            rework_count: 0,
            reopen_count: 0,
            supervision_count: 0,
            extension_count: 0,
            escalation_count: 0,
            parent: None,
        }
    }
}

impl Default for Facts {
    fn default() -> Self {
        Facts::new()
    }
}

/// A step someone takes on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Classify {
        category: String,
    },
    AnswerOnSpot {
        answer: String,
    },
    Refuse {
        reason: String,
    },
    Open,
    Dispatch {
        unit: i64,
    },
    Accept,
    SendBack {
        reason: String,
    },
    ReportBack {
        text: String,
        #[serde(default)]
        photos: Vec<String>,
    },
    Verify {
        passed: bool,
        #[serde(default)]
        note: String,
    },
    Rate {
        rating: Rating,
        #[serde(default)]
        comment: String,
    },
    Reopen {
        reason: String,
    },
    Merge {
        parent: i64,
    },
    Escalate {
        reason: String,
    },
    RequestExtension {
        working_days: u32,
        reason: String,
    },
    DecideExtension {
        approve: bool,
        #[serde(default)]
        note: String,
    },
    Supervise {
        note: String,
    },
    /// Staff call or visit the resident after the case is closed (回访):
    /// the satisfaction the resident states is recorded; an unsatisfied
    /// one either goes back for rework or is closed with an explanation.
    ReturnVisit {
        rating: Rating,
        #[serde(default)]
        rework: bool,
        note: String,
    },
    /// More facts while the case is open (补充): a text and photos from the
    /// resident or staff; nothing else changes.
    Supplement {
        text: String,
        #[serde(default)]
        photos: Vec<String>,
    },
}

/// The kind of a step, without its data: what a role may take
/// ([`crate::access::may_take`]) and what the state offers ([`allowed`]).
/// Spelt in the database, in JSON and in forms by [`ActionKind::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Classify,
    AnswerOnSpot,
    Refuse,
    Open,
    Dispatch,
    Accept,
    SendBack,
    ReportBack,
    Verify,
    Rate,
    Reopen,
    Merge,
    Escalate,
    RequestExtension,
    DecideExtension,
    Supervise,
    ReturnVisit,
    Supplement,
}

impl ActionKind {
    pub const ALL: [ActionKind; 18] = [
        ActionKind::Classify,
        ActionKind::AnswerOnSpot,
        ActionKind::Refuse,
        ActionKind::Open,
        ActionKind::Dispatch,
        ActionKind::Accept,
        ActionKind::SendBack,
        ActionKind::ReportBack,
        ActionKind::Verify,
        ActionKind::Rate,
        ActionKind::Reopen,
        ActionKind::Merge,
        ActionKind::Escalate,
        ActionKind::RequestExtension,
        ActionKind::DecideExtension,
        ActionKind::Supervise,
        ActionKind::ReturnVisit,
        ActionKind::Supplement,
    ];

    pub fn code(self) -> &'static str {
        match self {
            ActionKind::Classify => "classify",
            ActionKind::AnswerOnSpot => "answer_on_spot",
            ActionKind::Refuse => "refuse",
            ActionKind::Open => "open",
            ActionKind::Dispatch => "dispatch",
            ActionKind::Accept => "accept",
            ActionKind::SendBack => "send_back",
            ActionKind::ReportBack => "report_back",
            ActionKind::Verify => "verify",
            ActionKind::Rate => "rate",
            ActionKind::Reopen => "reopen",
            ActionKind::Merge => "merge",
            ActionKind::Escalate => "escalate",
            ActionKind::RequestExtension => "request_extension",
            ActionKind::DecideExtension => "decide_extension",
            ActionKind::Supervise => "supervise",
            ActionKind::ReturnVisit => "return_visit",
            ActionKind::Supplement => "supplement",
        }
    }

    pub fn parse(s: &str) -> Option<ActionKind> {
        ActionKind::ALL.into_iter().find(|k| k.code() == s)
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Classify { .. } => ActionKind::Classify,
            Action::AnswerOnSpot { .. } => ActionKind::AnswerOnSpot,
            Action::Refuse { .. } => ActionKind::Refuse,
            Action::Open => ActionKind::Open,
            Action::Dispatch { .. } => ActionKind::Dispatch,
            Action::Accept => ActionKind::Accept,
            Action::SendBack { .. } => ActionKind::SendBack,
            Action::ReportBack { .. } => ActionKind::ReportBack,
            Action::Verify { .. } => ActionKind::Verify,
            Action::Rate { .. } => ActionKind::Rate,
            Action::Reopen { .. } => ActionKind::Reopen,
            Action::Merge { .. } => ActionKind::Merge,
            Action::Escalate { .. } => ActionKind::Escalate,
            Action::RequestExtension { .. } => ActionKind::RequestExtension,
            Action::DecideExtension { .. } => ActionKind::DecideExtension,
            Action::Supervise { .. } => ActionKind::Supervise,
            Action::ReturnVisit { .. } => ActionKind::ReturnVisit,
            Action::Supplement { .. } => ActionKind::Supplement,
        }
    }

    /// The free text that goes into the timeline.
    pub fn note(&self) -> &str {
        match self {
            Action::AnswerOnSpot { answer: t }
            | Action::Refuse { reason: t }
            | Action::SendBack { reason: t }
            | Action::ReportBack { text: t, .. }
            | Action::Verify { note: t, .. }
            | Action::Rate { comment: t, .. }
            | Action::Reopen { reason: t }
            | Action::Escalate { reason: t }
            | Action::RequestExtension { reason: t, .. }
            | Action::DecideExtension { note: t, .. }
            | Action::Supervise { note: t }
            | Action::ReturnVisit { note: t, .. }
            | Action::Supplement { text: t, .. } => t,
            Action::Classify { category: t } => t,
            Action::Open | Action::Dispatch { .. } | Action::Accept | Action::Merge { .. } => "",
        }
    }
}

/// How a step is named on screen: (Chinese, English). "register" is the
/// first event of every case.
pub fn action_label(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "register" => ("登记", "Register"),
        "classify" => ("分类", "Classify"),
        "answer_on_spot" => ("当场答复", "Answer on the spot"),
        "refuse" => ("不予受理", "Refuse"),
        "open" => ("立案", "Open a case"),
        "dispatch" => ("派遣", "Dispatch"),
        "accept" => ("签收", "Accept"),
        "send_back" => ("退回", "Send back"),
        "report_back" => ("处置反馈", "Report back"),
        "verify" => ("核查", "Verify"),
        "rate" => ("评价", "Rate"),
        "reopen" => ("重新办理", "Reopen"),
        "merge" => ("合并", "Merge"),
        "escalate" => ("上报（吹哨）", "Escalate"),
        "request_extension" => ("申请延期", "Ask for more time"),
        "decide_extension" => ("审批延期", "Decide on extension"),
        "supervise" => ("督办", "Supervise"),
        "return_visit" => ("回访", "Return visit"),
        "join" => ("我也遇到", "Me too"),
        "supplement" => ("补充情况", "Add details"),
        "overdue" => ("超期", "Overdue"),
        _ => ("其他", "Other"),
    }
}

/// Side effects the store carries out with the new facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Compute the response and handling deadlines from now.
    StartClock,
    /// Push the handling deadline by this many working days.
    ExtendDeadline(u32),
    /// Mark the first response (for the response rate).
    Responded,
    /// Record the closing time.
    Close,
    /// Clear the closing time (reopened).
    Unclose,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub facts: Facts,
    pub effects: Vec<Effect>,
}

/// Why a step was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("'{action}' is not allowed when the case is {state} ({state_zh})")]
    NotAllowed {
        action: &'static str,
        state: &'static str,
        state_zh: &'static str,
    },
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: Msg },
}

/// The longest text of a step (a note, a reason, a report).
pub const MAX_STEP_TEXT_CHARS: usize = 4000;

fn need_text(field: &'static str, t: &str) -> Result<(), StepError> {
    if t.trim().is_empty() {
        Err(StepError::Invalid {
            field,
            message: Msg::required(),
        })
    } else if t.chars().count() > MAX_STEP_TEXT_CHARS {
        Err(StepError::Invalid {
            field,
            message: Msg::too_long(MAX_STEP_TEXT_CHARS, t.chars().count()),
        })
    } else {
        Ok(())
    }
}

/// Decides one step: the new facts and effects, or why not.
pub fn apply(f: &Facts, a: &Action) -> Result<Outcome, StepError> {
    use State::*;
    let refuse = || StepError::NotAllowed {
        action: a.kind().code(),
        state: f.state.code(),
        state_zh: f.state.label_zh(),
    };
    let mut n = f.clone();
    let mut effects = Vec::new();
    // A return visit only where one is owed (see `allowed`).
    if a.kind() == ActionKind::ReturnVisit && !allowed(f).contains(&ActionKind::ReturnVisit) {
        return Err(refuse());
    }
    match (f.state, a) {
        (Registered | Classified, Action::Classify { category }) => {
            need_text("category", category)?;
            n.category = Some(category.trim().to_string());
            n.state = Classified;
        }
        (Classified, Action::AnswerOnSpot { answer }) => {
            need_text("answer", answer)?;
            n.state = Closed;
            n.resolution = Some(Resolution::Answered);
            effects.extend([Effect::Responded, Effect::Close]);
        }
        (Registered | Classified, Action::Refuse { reason }) => {
            need_text("reason", reason)?;
            n.state = Refused;
            effects.extend([Effect::Responded, Effect::Close]);
        }
        (Classified, Action::Open) => {
            n.state = Opened;
            effects.push(Effect::StartClock);
        }
        (Opened, Action::Dispatch { unit }) => {
            n.unit = Some(*unit);
            n.state = Dispatched;
        }
        (Dispatched, Action::Accept) => {
            n.state = Handling;
            effects.push(Effect::Responded);
        }
        (Dispatched, Action::SendBack { reason }) => {
            need_text("reason", reason)?;
            n.unit = None;
            n.state = Opened;
        }
        (Handling, Action::ReportBack { text, photos }) => {
            need_text("text", text)?;
            if photos.len() > 20 {
                return Err(StepError::Invalid {
                    field: "photos",
                    message: Msg::new("at most 20 photos", "照片最多20张"),
                });
            }
            if f.extension_pending.is_some() {
                return Err(StepError::Invalid {
                    field: "extension",
                    message: Msg::new(
                        "decide the pending extension request first",
                        "请先审批待处理的延期申请",
                    ),
                });
            }
            n.state = ReportedBack;
        }
        (ReportedBack, Action::Verify { passed: true, .. }) => {
            n.state = Closed;
            n.resolution = Some(Resolution::Resolved);
            effects.push(Effect::Close);
        }
        (
            ReportedBack,
            Action::Verify {
                passed: false,
                note,
            },
        ) => {
            need_text("note", note)?;
            n.state = Handling;
            n.rework_count += 1;
        }
        (Closed, Action::Rate { rating, .. }) => {
            n.rating = Some(*rating);
            n.state = Rated;
        }
        (Closed | Rated, Action::Reopen { reason }) => {
            need_text("reason", reason)?;
            n.state = Opened;
            n.unit = None;
            n.resolution = None;
            n.rating = None;
            n.reopen_count += 1;
            effects.extend([Effect::Unclose, Effect::StartClock]);
        }
        (
            Closed | Rated,
            Action::ReturnVisit {
                rating,
                rework: true,
                note,
            },
        ) => {
            need_text("note", note)?;
            if *rating != Rating::Unsatisfied {
                return Err(StepError::Invalid {
                    field: "rework",
                    message: Msg::new(
                        "only an unsatisfied resident's case goes back for rework",
                        "只有居民不满意的工单才退回重办",
                    ),
                });
            }
            // Back to its unit (a case answered on the spot has none: it
            // is opened for dispatch), with a new deadline.
            n.state = if f.unit.is_some() { Handling } else { Opened };
            n.rating = None;
            n.resolution = None;
            n.rework_count += 1;
            effects.extend([Effect::Unclose, Effect::StartClock]);
        }
        (Closed | Rated, Action::ReturnVisit { rating, note, .. }) => {
            need_text("note", note)?;
            n.state = Rated;
            n.rating = Some(*rating);
            if *rating == Rating::Unsatisfied {
                n.resolution = Some(Resolution::Explained);
            }
        }
        (
            Registered | Classified | Opened | Dispatched | Handling | ReportedBack,
            Action::Supplement { text, photos },
        ) => {
            need_text("text", text)?;
            if photos.len() > 20 {
                return Err(StepError::Invalid {
                    field: "photos",
                    message: Msg::new("at most 20 photos", "照片最多20张"),
                });
            }
        }
        (Refused, Action::Reopen { reason }) => {
            need_text("reason", reason)?;
            n.state = if f.category.is_some() {
                Classified
            } else {
                Registered
            };
            n.reopen_count += 1;
            effects.push(Effect::Unclose);
        }
        (Registered | Classified | Opened, Action::Merge { parent }) => {
            n.parent = Some(*parent);
            n.state = Merged;
            effects.push(Effect::Close);
        }
        (Opened | Dispatched | Handling, Action::Escalate { reason }) => {
            need_text("reason", reason)?;
            n.level = f.level.up().ok_or(StepError::Invalid {
                field: "level",
                message: Msg::new(
                    "the case is already at the district, the highest level",
                    "工单已在区级，不能再上报",
                ),
            })?;
            n.escalation_count += 1;
            n.unit = None;
            n.extension_pending = None;
            n.state = Opened;
        }
        (
            Handling,
            Action::RequestExtension {
                working_days,
                reason,
            },
        ) => {
            need_text("reason", reason)?;
            if !(1..=30).contains(working_days) {
                return Err(StepError::Invalid {
                    field: "working_days",
                    message: Msg::new("must be 1 to 30", "应为1至30个工作日"),
                });
            }
            if f.extension_pending.is_some() {
                return Err(StepError::Invalid {
                    field: "extension",
                    message: Msg::new(
                        "an extension request is already pending",
                        "已有一个延期申请在等待审批",
                    ),
                });
            }
            n.extension_pending = Some(*working_days);
        }
        (Handling, Action::DecideExtension { approve, .. }) => {
            let days = f.extension_pending.ok_or(StepError::Invalid {
                field: "extension",
                message: Msg::new("no extension request is pending", "没有待审批的延期申请"),
            })?;
            n.extension_pending = None;
            if *approve {
                n.extension_count += 1;
                effects.push(Effect::ExtendDeadline(days));
            }
        }
        (Opened | Dispatched | Handling | ReportedBack, Action::Supervise { note }) => {
            need_text("note", note)?;
            n.supervision_count += 1;
        }
        _ => return Err(refuse()),
    }
    Ok(Outcome { facts: n, effects })
}

/// The action kinds that the state allows now (the data of the action may
/// still be refused), for showing only the buttons that can work.
pub fn allowed(f: &Facts) -> Vec<ActionKind> {
    use ActionKind as K;
    use State::*;
    let mut out: Vec<ActionKind> = match f.state {
        Registered => vec![K::Classify, K::Refuse, K::Merge],
        Classified => vec![K::Classify, K::AnswerOnSpot, K::Refuse, K::Open, K::Merge],
        Opened => vec![K::Dispatch, K::Merge, K::Escalate, K::Supervise],
        Dispatched => vec![K::Accept, K::SendBack, K::Escalate, K::Supervise],
        Handling => vec![
            K::ReportBack,
            K::Escalate,
            K::RequestExtension,
            K::Supervise,
        ],
        ReportedBack => vec![K::Verify, K::Supervise],
        // A return visit asks a resident who has not rated, or who was
        // unsatisfied and has not had their visit; it never overrides a
        // satisfied resident.
        Closed => vec![K::Rate, K::ReturnVisit, K::Reopen],
        Rated
            if f.rating == Some(Rating::Unsatisfied)
                && f.resolution != Some(Resolution::Explained) =>
        {
            vec![K::ReturnVisit, K::Reopen]
        }
        Rated => vec![K::Reopen],
        Refused => vec![K::Reopen],
        Merged => vec![],
    };
    if f.state.is_open() {
        out.push(K::Supplement);
    }
    if f.state == Handling && f.extension_pending.is_some() {
        out.retain(|k| *k != K::RequestExtension && *k != K::ReportBack);
        out.push(K::DecideExtension);
    }
    if f.level == Level::District {
        out.retain(|k| *k != K::Escalate);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_kinds_spelt_once() {
        for k in ActionKind::ALL {
            assert_eq!(ActionKind::parse(k.code()), Some(k));
            // JSON, the database and forms use the same spelling.
            assert_eq!(serde_json::to_value(k).unwrap(), k.code());
            assert_ne!(action_label(k.code()).0, "其他", "{k:?} has a label");
        }
        assert_eq!(ActionKind::parse("register"), None);
    }

    use proptest::prelude::*;

    #[test]
    fn every_step_and_state_has_a_name_in_both_languages() {
        for st in State::ALL {
            assert!(!st.label_zh().is_empty() && !st.label_en().is_empty());
        }
    }

    fn run(steps: &[Action]) -> Result<Facts, StepError> {
        let mut f = Facts::new();
        for s in steps {
            f = apply(&f, s)?.facts;
        }
        Ok(f)
    }

    fn txt(s: &str) -> String {
        s.to_string()
    }

    #[test]
    fn the_full_loop() {
        let f = run(&[
            Action::Classify {
                category: txt("parking"),
            },
            Action::Open,
            Action::Dispatch { unit: 7 },
            Action::SendBack {
                reason: txt("不是本单位职责"),
            },
            Action::Dispatch { unit: 8 },
            Action::Accept,
            Action::RequestExtension {
                working_days: 3,
                reason: txt("需协调"),
            },
            Action::DecideExtension {
                approve: true,
                note: txt(""),
            },
            Action::ReportBack {
                text: txt("已清理"),
                photos: vec![txt("a.jpg")],
            },
            Action::Verify {
                passed: false,
                note: txt("未清理干净"),
            },
            Action::ReportBack {
                text: txt("再次清理"),
                photos: vec![],
            },
            Action::Verify {
                passed: true,
                note: txt(""),
            },
            Action::Rate {
                rating: Rating::Satisfied,
                comment: txt(""),
            },
        ])
        .unwrap();
        assert_eq!(f.state, State::Rated);
        assert_eq!(f.unit, Some(8));
        assert_eq!((f.rework_count, f.extension_count), (1, 1));
        assert_eq!(f.resolution, Some(Resolution::Resolved));
    }

    #[test]
    fn a_return_visit_records_the_rating_and_sends_an_unsatisfied_case_back() {
        let handled = [
            Action::Classify {
                category: txt("parking"),
            },
            Action::Open,
            Action::Dispatch { unit: 8 },
            Action::Accept,
            Action::ReportBack {
                text: txt("已处理"),
                photos: vec![],
            },
            Action::Verify {
                passed: true,
                note: txt(""),
            },
            Action::Rate {
                rating: Rating::Unsatisfied,
                comment: txt("没解决"),
            },
        ];
        let unsatisfied = run(&handled).unwrap();
        assert!(allowed(&unsatisfied).contains(&ActionKind::ReturnVisit));
        // Rework: back to the same unit with a new deadline, the rating cleared.
        let visit = |rating, rework| Action::ReturnVisit {
            rating,
            rework,
            note: txt("电话回访"),
        };
        let out = apply(&unsatisfied, &visit(Rating::Unsatisfied, true)).unwrap();
        assert_eq!(out.facts.state, State::Handling);
        assert_eq!(
            (out.facts.unit, out.facts.rating, out.facts.rework_count),
            (Some(8), None, 1)
        );
        assert_eq!(out.effects, vec![Effect::Unclose, Effect::StartClock]);
        // An explained close: still unsatisfied, no longer waiting for a visit.
        let out = apply(&unsatisfied, &visit(Rating::Unsatisfied, false)).unwrap();
        assert_eq!(out.facts.state, State::Rated);
        assert_eq!(out.facts.resolution, Some(Resolution::Explained));
        assert_eq!(out.facts.rating, Some(Rating::Unsatisfied));
        // A visit that finds the resident satisfied now records it; then
        // no more visits, and a satisfied resident is never "visited" over.
        let out = apply(&unsatisfied, &visit(Rating::Satisfied, false)).unwrap();
        assert_eq!(out.facts.rating, Some(Rating::Satisfied));
        assert_eq!(out.facts.resolution, Some(Resolution::Resolved));
        assert!(!allowed(&out.facts).contains(&ActionKind::ReturnVisit));
        assert!(matches!(
            apply(&out.facts, &visit(Rating::Unsatisfied, true)),
            Err(StepError::NotAllowed { .. })
        ));
        let explained = apply(&unsatisfied, &visit(Rating::Unsatisfied, false))
            .unwrap()
            .facts;
        assert!(
            !allowed(&explained).contains(&ActionKind::ReturnVisit),
            "visited once"
        );
        // Rework only for the unsatisfied; a note always.
        assert!(matches!(
            apply(&unsatisfied, &visit(Rating::Satisfied, true)),
            Err(StepError::Invalid {
                field: "rework",
                ..
            })
        ));
        let silent = Action::ReturnVisit {
            rating: Rating::Satisfied,
            rework: false,
            note: txt(" "),
        };
        assert!(matches!(
            apply(&unsatisfied, &silent),
            Err(StepError::Invalid { field: "note", .. })
        ));
        // A case answered on the spot has no unit: rework opens it for dispatch.
        let answered = run(&[
            Action::Classify { category: txt("x") },
            Action::AnswerOnSpot { answer: txt("a") },
        ])
        .unwrap();
        let out = apply(&answered, &visit(Rating::Unsatisfied, true)).unwrap();
        assert_eq!(out.facts.state, State::Opened);
    }

    #[test]
    fn a_supplement_adds_details_to_an_open_case_only() {
        let add = Action::Supplement {
            text: txt("楼上又漏水了"),
            photos: vec![],
        };
        let open = run(&[Action::Classify { category: txt("x") }]).unwrap();
        assert!(allowed(&open).contains(&ActionKind::Supplement));
        let out = apply(&open, &add).unwrap();
        assert_eq!(out.facts, open, "nothing but the timeline changes");
        assert!(out.effects.is_empty());
        let closed = run(&[
            Action::Classify { category: txt("x") },
            Action::AnswerOnSpot { answer: txt("a") },
        ])
        .unwrap();
        assert!(!allowed(&closed).contains(&ActionKind::Supplement));
        assert!(apply(&closed, &add).is_err());
        let empty = Action::Supplement {
            text: txt(" "),
            photos: vec![],
        };
        assert!(matches!(
            apply(&open, &empty),
            Err(StepError::Invalid { field: "text", .. })
        ));
    }

    #[test]
    fn answer_refuse_merge_reopen_escalate() {
        let f = run(&[
            Action::Classify { category: txt("x") },
            Action::AnswerOnSpot {
                answer: txt("已解答"),
            },
        ])
        .unwrap();
        assert_eq!(
            (f.state, f.resolution),
            (State::Closed, Some(Resolution::Answered))
        );
        let f = run(&[Action::Refuse {
            reason: txt("不属于受理范围"),
        }])
        .unwrap();
        assert_eq!(f.state, State::Refused);
        let f = apply(
            &f,
            &Action::Reopen {
                reason: txt("申诉"),
            },
        )
        .unwrap()
        .facts;
        assert_eq!(f.state, State::Registered);
        let f = run(&[Action::Merge { parent: 3 }]).unwrap();
        assert_eq!((f.state, f.parent), (State::Merged, Some(3)));
        assert!(allowed(&f).is_empty());

        let mut f = run(&[
            Action::Classify { category: txt("x") },
            Action::Open,
            Action::Dispatch { unit: 1 },
        ])
        .unwrap();
        f = apply(
            &f,
            &Action::Escalate {
                reason: txt("需街道协调"),
            },
        )
        .unwrap()
        .facts;
        assert_eq!(
            (f.state, f.level, f.unit),
            (State::Opened, Level::Subdistrict, None)
        );
        f = apply(
            &f,
            &Action::Escalate {
                reason: txt("吹哨"),
            },
        )
        .unwrap()
        .facts;
        assert_eq!(f.level, Level::District);
        let e = apply(
            &f,
            &Action::Escalate {
                reason: txt("再吹"),
            },
        )
        .unwrap_err();
        assert!(matches!(e, StepError::Invalid { field: "level", .. }));

        let closed = run(&[
            Action::Classify { category: txt("x") },
            Action::AnswerOnSpot { answer: txt("a") },
        ])
        .unwrap();
        let o = apply(
            &closed,
            &Action::Reopen {
                reason: txt("没解决"),
            },
        )
        .unwrap();
        assert_eq!(o.facts.state, State::Opened);
        assert!(o.effects.contains(&Effect::StartClock));
    }

    #[test]
    fn refusals_say_why() {
        let e = run(&[Action::Open]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "'open' is not allowed when the case is registered (已登记)"
        );
        let e = run(&[Action::Refuse { reason: txt("  ") }]).unwrap_err();
        assert_eq!(
            e,
            StepError::Invalid {
                field: "reason",
                message: Msg::required()
            }
        );
        let f = run(&[
            Action::Classify { category: txt("x") },
            Action::Open,
            Action::Dispatch { unit: 1 },
            Action::Accept,
            Action::RequestExtension {
                working_days: 2,
                reason: txt("r"),
            },
        ])
        .unwrap();
        let e = apply(
            &f,
            &Action::ReportBack {
                text: txt("done"),
                photos: vec![],
            },
        )
        .unwrap_err();
        assert!(matches!(
            e,
            StepError::Invalid {
                field: "extension",
                ..
            }
        ));
        let e = apply(
            &f,
            &Action::RequestExtension {
                working_days: 2,
                reason: txt("r"),
            },
        )
        .unwrap_err();
        assert!(matches!(
            e,
            StepError::Invalid {
                field: "extension",
                ..
            }
        ));
    }

    fn any_action() -> impl Strategy<Value = Action> {
        let text = prop_oneof![Just(String::new()), Just("说明".to_string())];
        prop_oneof![
            text.clone()
                .prop_map(|category| Action::Classify { category }),
            text.clone()
                .prop_map(|answer| Action::AnswerOnSpot { answer }),
            text.clone().prop_map(|reason| Action::Refuse { reason }),
            Just(Action::Open),
            (1i64..5).prop_map(|unit| Action::Dispatch { unit }),
            Just(Action::Accept),
            text.clone().prop_map(|reason| Action::SendBack { reason }),
            text.clone().prop_map(|text| Action::ReportBack {
                text,
                photos: vec![]
            }),
            (any::<bool>(), text.clone())
                .prop_map(|(passed, note)| Action::Verify { passed, note }),
            prop_oneof![
                Just(Rating::Satisfied),
                Just(Rating::BasicallySatisfied),
                Just(Rating::Unsatisfied)
            ]
            .prop_map(|rating| Action::Rate {
                rating,
                comment: String::new()
            }),
            text.clone().prop_map(|reason| Action::Reopen { reason }),
            (1i64..5).prop_map(|parent| Action::Merge { parent }),
            text.clone().prop_map(|reason| Action::Escalate { reason }),
            (0u32..40, text.clone()).prop_map(|(working_days, reason)| Action::RequestExtension {
                working_days,
                reason
            }),
            (any::<bool>(), text.clone())
                .prop_map(|(approve, note)| Action::DecideExtension { approve, note }),
            text.prop_map(|note| Action::Supervise { note }),
        ]
    }

    proptest! {
        #[test]
        fn random_walks_keep_the_invariants(actions in proptest::collection::vec(any_action(), 0..60)) {
            let mut f = Facts::new();
            for a in &actions {
                let allowed_now = allowed(&f);
                match apply(&f, a) {
                    Ok(o) => {
                        // Whatever succeeds was offered.
                        prop_assert!(allowed_now.contains(&a.kind()), "{:?} succeeded in {:?} but was not offered", a.kind(), f.state);
                        let g = o.facts;
                        // Counters never go down; a level never drops.
                        prop_assert!(g.rework_count >= f.rework_count && g.reopen_count >= f.reopen_count);
                        prop_assert!(g.supervision_count >= f.supervision_count && g.extension_count >= f.extension_count);
                        prop_assert!(g.level >= f.level);
                        // A rating exists exactly in Rated; a resolution only when closed or rated.
                        prop_assert_eq!(g.rating.is_some(), g.state == State::Rated);
                        if g.resolution.is_some() { prop_assert!(matches!(g.state, State::Closed | State::Rated)); }
                        // Dispatched and later stages have a unit; Opened has none.
                        if matches!(g.state, State::Dispatched | State::Handling | State::ReportedBack) { prop_assert!(g.unit.is_some()); }
                        if g.state == State::Opened { prop_assert!(g.unit.is_none()); }
                        // Merged is final.
                        prop_assert!(f.state != State::Merged);
                        f = g;
                    }
                    Err(StepError::NotAllowed { .. }) => {
                        prop_assert!(!allowed_now.contains(&a.kind()), "{:?} was offered in {:?} but refused", a.kind(), f.state);
                    }
                    Err(StepError::Invalid { .. }) => {}
                }
            }
        }
    }
}
