//! Which handling unit a case goes to by the rules (派单规则): a dispatch
//! rule for its category at the nearest place above it, else the nearest
//! unit of the category's default kind. "Above" follows the org path from
//! the case's own place up to the root.

/// "/1/4/17/" → ["/1/4/17/", "/1/4/", "/1/"]: nearest first.
pub fn ancestor_paths(path: &str) -> Vec<String> {
    let ids: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    (1..=ids.len())
        .rev()
        .map(|n| format!("/{}/", ids[..n].join("/")))
        .collect()
}

/// A rule "this category at this place goes to this unit".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The org path of the place the rule is set at.
    pub place: String,
    pub unit: i64,
}

/// A handling unit as dispatch sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitAt {
    pub id: i64,
    /// The org path the unit is attached to.
    pub place: String,
    pub kind: String,
}

/// The unit a case at `place` goes to: the rule at the nearest place above
/// (whatever its unit's kind), else the nearest unit of `default_kind`.
/// `rules` are the rules of the case's category.
pub fn choose_unit(
    place: &str,
    rules: &[Rule],
    units: &[UnitAt],
    default_kind: Option<&str>,
) -> Option<i64> {
    let ancestors = ancestor_paths(place);
    for path in &ancestors {
        if let Some(r) = rules.iter().find(|r| &r.place == path) {
            return units.iter().find(|u| u.id == r.unit).map(|u| u.id);
        }
    }
    let kind = default_kind?;
    ancestors.iter().find_map(|path| {
        units
            .iter()
            .find(|u| &u.place == path && u.kind == kind)
            .map(|u| u.id)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(id: i64, place: &str, kind: &str) -> UnitAt {
        UnitAt {
            id,
            place: place.into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn ancestors_nearest_first() {
        assert_eq!(ancestor_paths("/1/4/17/"), vec!["/1/4/17/", "/1/4/", "/1/"]);
        assert!(ancestor_paths("/").is_empty());
    }

    #[test]
    fn rules_then_the_nearest_unit_of_the_kind() {
        let units = [
            unit(1, "/1/", "urban_management"),
            unit(2, "/1/4/", "urban_management"),
            unit(3, "/1/4/17/", "property"),
            unit(4, "/1/5/", "urban_management"),
        ];
        let um = Some("urban_management");
        // No rule: the nearest unit of the kind above the place.
        assert_eq!(choose_unit("/1/4/17/30/", &[], &units, um), Some(2));
        assert_eq!(choose_unit("/1/6/", &[], &units, um), Some(1));
        assert_eq!(
            choose_unit("/1/4/17/", &[], &units, Some("property")),
            Some(3)
        );
        // A unit beside the place (another branch) does not serve it.
        assert_eq!(choose_unit("/1/6/", &[], &units, Some("property")), None);
        assert_eq!(choose_unit("/1/4/", &[], &units, None), None);
        // A rule at a nearer place wins over a unit of the kind, whatever its kind.
        let rules = [
            Rule {
                place: "/1/4/17/".into(),
                unit: 3,
            },
            Rule {
                place: "/1/".into(),
                unit: 4,
            },
        ];
        assert_eq!(choose_unit("/1/4/17/30/", &rules, &units, um), Some(3));
        // A rule further up beats the default kind below it.
        assert_eq!(choose_unit("/1/4/18/", &rules, &units, um), Some(4));
        // A rule naming a unit that no longer exists dispatches to nobody.
        let gone = [Rule {
            place: "/1/4/".into(),
            unit: 99,
        }];
        assert_eq!(choose_unit("/1/4/", &gone, &units, um), None);
    }
}
