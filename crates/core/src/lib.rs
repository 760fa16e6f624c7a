//! linli-core: domain types and pure rules. No IO lives here.
//!
//! - [`access`]: roles, what each may do, how far its data reaches.
//! - [`validate`]: resident ID numbers (GB 11643), mobile numbers, unified
//!   social credit codes (GB 32100).
//! - [`org`]: the org tree levels and 15-digit grid codes.
//! - [`registry`]: tags, relations, management modes of the registry (百姓档案).
//! - [`period`]: Beijing months and named reporting periods.
//! - [`mask`]: how personal data is shown on screen.
//! - [`synth`]: deterministic synthetic city for demos and benchmarks.

pub mod access;
pub mod calendar;
pub mod case;
pub mod category;
pub mod mask;
pub mod org;
pub mod period;
pub mod registry;
pub mod rng;
pub mod synth;
pub mod validate;
