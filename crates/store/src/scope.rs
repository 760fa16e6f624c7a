//! Data scope: which part of the org tree a caller may see.

use linli_core::org::OrgPath;

/// The part of the org tree a caller may read and write. Built once per
/// request from the caller's account and passed to every store call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The whole tree (district administrators, system jobs, the CLI).
    Everything,
    /// One node and everything below it.
    Subtree(OrgPath),
}

impl Scope {
    /// `[low, high)` bounds on a `scope_path` column: one range condition.
    pub fn bounds(&self) -> (String, String) {
        match self {
            Scope::Everything => ("/".into(), "0".into()),
            Scope::Subtree(p) => (p.as_str().to_string(), p.subtree_end()),
        }
    }

    pub fn covers(&self, path: &str) -> bool {
        let (lo, hi) = self.bounds();
        path >= lo.as_str() && path < hi.as_str()
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
}
