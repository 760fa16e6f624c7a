//! Typed ids: a case's id cannot be passed where a unit's is expected, and
//! two ids side by side (`set_dispatch_rule(org, unit)`, `act(case,
//! version)`) cannot be swapped without the compiler noticing. In JSON, in
//! the database and in URLs each is the plain integer.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            schemars::JsonSchema,
        )]
        #[serde(transparent)]
        #[schemars(transparent)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }
    };
}

id_type!(
    /// A case (工单).
    CaseId
);
id_type!(
    /// A node of the org tree: city, district, subdistrict, community, grid.
    OrgId
);
id_type!(
    /// A handling unit (承办单位) cases are dispatched to.
    UnitId
);
id_type!(
    /// A staff member (网格员, 网格长 …).
    StaffId
);
id_type!(
    /// A sign-in account.
    AccountId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_its_integer_in_json_text_and_urls() {
        let id = CaseId(42);
        assert_eq!(serde_json::to_string(&id).unwrap(), "42");
        assert_eq!(serde_json::from_str::<CaseId>("42").unwrap(), id);
        assert_eq!(id.to_string(), "42");
        assert_eq!("42".parse::<CaseId>().unwrap(), id);
        assert!("4x".parse::<CaseId>().is_err());
        assert_eq!(i64::from(UnitId(7)), 7);
    }
}
