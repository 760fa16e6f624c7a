//! To-do counts and lists (待办): the cases each to-do of
//! [`linli_core::todo`] asks for, within the caller's area.

use linli_core::case::State;
use linli_core::todo::{Condition, Todo};

use super::read::OPEN_STATES;
use crate::db::{Conditions, now_ms};
use crate::{Backend, Result, Scope, Store, with_db};

/// The conditions of a to-do beyond the caller's area. Shared by the
/// count and the list, so that the number on the button is the number of
/// rows behind it. Literal where a partial index is declared with the
/// same words (SQLite uses such an index only for a query that says them).
pub(crate) fn todo_conditions(todo: Todo, now: i64, w: &mut Conditions) {
    match todo.condition() {
        Condition::InState(s) => {
            if s.is_open() {
                w.push(format!("c.state IN {OPEN_STATES}"));
            }
            let p = w.text(s.code());
            w.push(format!("c.state = {p}"));
        }
        Condition::Due { from_ms, to_ms } => {
            w.push(format!("c.state IN {OPEN_STATES}"));
            w.push("c.due_at IS NOT NULL AND c.closed_at IS NULL".into());
            if let Some(from) = from_ms {
                let p = w.int(now + from);
                w.push(format!("c.due_at >= {p}"));
            }
            let p = w.int(now + to_ms);
            w.push(format!("c.due_at < {p}"));
        }
        Condition::ExtensionPending => {
            w.push("c.extension_pending IS NOT NULL".into());
        }
        Condition::RatedUnexplained(r) => {
            debug_assert_eq!(
                r.code(),
                "unsatisfied",
                "the partial index says unsatisfied"
            );
            w.push(
                "c.state = 'rated' AND c.rating = 'unsatisfied' AND COALESCE(c.resolution, '') <> 'explained'"
                    .into(),
            );
        }
    }
}

/// The state a to-do's list is narrowed to, if one (for the choice of
/// index of the list), and whether it holds open cases only.
pub(crate) fn todo_state(todo: Todo) -> (Option<State>, bool) {
    match todo.condition() {
        Condition::InState(s) => (Some(s), false),
        Condition::Due { .. } | Condition::ExtensionPending => (None, true),
        Condition::RatedUnexplained(_) => (Some(State::Rated), false),
    }
}

impl Store {
    /// How many cases each to-do holds in the caller's area, in the order
    /// asked. Each count reads the small index of its own cases.
    pub async fn todo_counts(&self, scope: &Scope, todos: &[Todo]) -> Result<Vec<(Todo, i64)>> {
        let now = now_ms();
        let mut out = Vec::with_capacity(todos.len());
        for &t in todos {
            let mut w = Conditions::default();
            let index = match scope {
                Scope::Everything => None,
                Scope::Subtree(path) => {
                    let (lo, hi) = (w.text(path.as_str()), w.text(&path.subtree_end()));
                    w.push(format!("c.scope_path >= {lo} AND c.scope_path < {hi}"));
                    None
                }
                Scope::Unit(u) => {
                    let p = w.int(*u);
                    w.push(format!("c.unit_id = {p}"));
                    Some("service_case_unit_state")
                }
                Scope::Reporter(a) => {
                    let p = w.int(*a);
                    w.push(format!("c.reporter_account = {p}"));
                    Some("service_case_reporter")
                }
            };
            todo_conditions(t, now, &mut w);
            let index = index.or(match t.condition() {
                Condition::InState(s) if s.is_open() => Some("service_case_open_state_scope"),
                Condition::InState(_) => None,
                Condition::Due { .. } => Some("service_case_open_due_scope"),
                Condition::ExtensionPending => Some("service_case_extension_scope"),
                Condition::RatedUnexplained(_) => Some("service_case_unsatisfied_scope"),
            });
            let hint = match (self.backend(), index) {
                (Backend::Sqlite, Some(i)) => format!(" INDEXED BY {i}"),
                _ => String::new(),
            };
            let sql = format!("SELECT COUNT(*) FROM service_case c{hint}{}", w.where_sql());
            let n: i64 = with_db!(&self.db, pool => {
                crate::bind_args!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), &w.args).fetch_one(pool).await?
            });
            out.push((t, n));
        }
        Ok(out)
    }
}
