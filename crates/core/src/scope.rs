//! Data scope: which records a caller may see. Every store call takes one.

use crate::org::OrgPath;

/// What a caller may read and write. Built once per request from the
/// caller's account and passed to every store call, so no query can
/// forget it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole tree (district administrators, system jobs, the CLI).
    Everything,
    /// One node and everything below it (staff).
    Subtree(OrgPath),
    /// A resident (or volunteer) account: the cases it reported, nothing
    /// of the registry or the org tree.
    Reporter(i64),
    /// A handling unit's staff: the cases now dispatched to the unit.
    Unit(i64),
}

impl Scope {
    /// `[low, high)` bounds on a `scope_path` column: one range condition.
    /// Record-level scopes reach no part of the tree: an empty range, so
    /// a query that only knows about the tree finds nothing.
    pub fn bounds(&self) -> (String, String) {
        match self {
            Scope::Everything => ("/".into(), "0".into()),
            Scope::Subtree(p) => (p.as_str().to_string(), p.subtree_end()),
            Scope::Reporter(_) | Scope::Unit(_) => ("0".into(), "0".into()),
        }
    }

    /// Whether a place of the tree is in scope.
    pub fn covers(&self, path: &str) -> bool {
        let (lo, hi) = self.bounds();
        path >= lo.as_str() && path < hi.as_str()
    }

    /// Whether a case is in scope: by its place for tree scopes, by who
    /// reported it or which unit holds it for the record-level ones.
    pub fn covers_case(&self, path: &str, unit_id: Option<i64>, reporter: Option<i64>) -> bool {
        match self {
            Scope::Reporter(a) => reporter == Some(*a),
            Scope::Unit(u) => unit_id == Some(*u),
            _ => self.covers(path),
        }
    }

    /// For queries over the tree on behalf of a record-level scope (a
    /// resident locating their own report): the whole tree; otherwise
    /// the scope itself.
    pub fn tree_for_lookup(&self) -> Scope {
        match self {
            Scope::Reporter(_) => Scope::Everything,
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_only_the_subtree() {
        let s = Scope::Subtree(OrgPath::parse("/1/4/").unwrap());
        assert!(s.covers("/1/4/"));
        assert!(s.covers("/1/4/17/"));
        assert!(!s.covers("/1/40/"));
        assert!(!s.covers("/1/"));
        assert!(Scope::Everything.covers("/1/40/"));
    }

    #[test]
    fn record_scopes_reach_no_place_and_only_their_cases() {
        for s in [Scope::Reporter(7), Scope::Unit(3)] {
            assert!(!s.covers("/"));
            assert!(!s.covers("/1/4/17/"));
        }
        assert!(Scope::Reporter(7).covers_case("/1/", None, Some(7)));
        assert!(!Scope::Reporter(7).covers_case("/1/", Some(7), Some(8)));
        assert!(Scope::Unit(3).covers_case("/1/", Some(3), None));
        assert!(!Scope::Unit(3).covers_case("/1/", Some(4), Some(3)));
        let s = Scope::Subtree(OrgPath::parse("/1/4/").unwrap());
        assert!(s.covers_case("/1/4/9/", None, None));
        assert!(!s.covers_case("/1/5/", Some(3), Some(7)));
    }
}
