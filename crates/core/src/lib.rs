//! linli-core: domain types and pure rules. No IO lives here.
//!
//! - [`access`]: roles, what each may do, how far its data reaches.
//! - [`actor`]: who did something (timeline, audit log), by name.
//! - [`scope`]: the part of the org tree (or the records) a caller reaches.
//! - [`case`]: the closed loop of a case as a state machine.
//! - [`intake`]: channels, case codes and the checks of a new request.
//! - [`dispatch`]: which handling unit a case goes to by the rules.
//! - [`deadline`]: what a step does to a case's clocks.
//! - [`validate`]: resident ID numbers (GB 11643), mobile numbers, unified
//!   social credit codes (GB 32100).
//! - [`ledger`]: reading ledgers as communities keep them: the header
//!   under title rows, columns by their many names, values normalised with
//!   every change noted.
//! - [`org`]: the org tree levels and 15-digit grid codes.
//! - [`registry`]: tags, relations, management modes of the registry (百姓档案).
//! - [`period`]: Beijing months and named reporting periods.
//! - [`mask`]: how personal data is shown on screen.
//! - [`msg`]: messages for people in Chinese and English; field labels.
//! - [`notify`]: who is told of which step (通知).
//! - [`synth`]: deterministic synthetic city for demos and benchmarks.
//! - [`todo`]: what waits for whom (待办), per role.

pub mod access;
pub mod actor;
pub mod calendar;
pub mod case;
pub mod category;
pub mod deadline;
pub mod dispatch;
pub mod ids;
pub mod intake;
pub mod ledger;
pub mod mask;
pub mod msg;
pub mod notify;
pub mod org;
pub mod period;
pub mod rates;
pub mod registry;
pub mod rng;
pub mod scope;
pub mod synth;
pub mod synth_cases;
pub mod todo;
pub mod validate;
