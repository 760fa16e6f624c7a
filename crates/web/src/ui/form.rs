//! Forms as people fill them: a refused form comes back as the same page
//! with every value kept and the message beside its field, in the page's
//! language, instead of a separate error page.

use std::collections::HashMap;

use super::Lang;
use crate::AppError;

/// What a form shows: the values sent (empty for a fresh form) and, after
/// a refusal, what was wrong.
#[derive(Debug, Default)]
pub struct FormState {
    values: HashMap<String, String>,
    problem: Option<Problem>,
}

/// A refusal as shown on a form.
#[derive(Debug)]
pub struct Problem {
    /// The form field it is shown beside; `None` when the message is
    /// about the form as a whole.
    pub slot: Option<&'static str>,
    /// The message in the page's language, led by the field's label.
    pub message: String,
}

/// The form field a refusal of `field` is shown beside: the place of a
/// request is one block (map, coordinates, grid), a photo has one input.
fn slot(field: &str) -> Option<&'static str> {
    Some(match field {
        "lon" | "lat" | "lon/lat" | "place" | "org_code" => "place",
        "photo" | "photos" | "media" | "file" => "photo",
        "channel" => "channel",
        "category" => "category",
        "title" => "title",
        "description" => "description",
        "address" => "address",
        "reporter_name" => "reporter_name",
        "reporter_phone" => "reporter_phone",
        "unit" => "unit",
        "parent" => "parent",
        "working_days" => "working_days",
        "reason" => "reason",
        "answer" => "answer",
        "text" => "text",
        "note" => "note",
        "rating" => "rating",
        "rework" => "rework",
        "comment" => "comment",
        "username" => "username",
        "display_name" => "display_name",
        "password" => "password",
        _ => return None,
    })
}

impl FormState {
    /// The form with the refusal `e`, when `e` is something the person
    /// can correct on the form (a value, a changed case, a file, a wait);
    /// other errors (not found, not allowed, internal) are not about the
    /// form and give `None`.
    pub fn refused(values: HashMap<String, String>, e: &AppError, l: Lang) -> Option<Self> {
        let (field, msg) = match e {
            AppError::Invalid { field, message } => (Some(field.as_str()), message.clone()),
            AppError::Conflict(_)
            | AppError::BadRequest(_)
            | AppError::TooManyRequests { .. }
            | AppError::StorageFull => (None, e.message()?),
            _ => return None,
        };
        let text = msg.text(!l.en);
        let slot = field.and_then(slot);
        let message = match field {
            Some(f) => {
                // The place is one block on the form (map, coordinates,
                // grid): its messages are said as the place's.
                let named = if slot == Some("place") { "place" } else { f };
                linli_core::msg::with_label(named, text, l.en)
            }
            None => text.to_string(),
        };
        Some(FormState {
            values,
            problem: Some(Problem { slot, message }),
        })
    }

    /// The value sent for `name`, or empty.
    pub fn val(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    /// Whether `name` was sent as `value` (for a select's option or a
    /// radio button), or, when nothing was sent, whether `value` is the
    /// form's `default`.
    pub fn is(&self, name: &str, value: &str, default: bool) -> bool {
        match self.values.get(name) {
            Some(v) => v == value,
            None => default,
        }
    }

    /// The message to show beside the field `slot`, if the refusal is
    /// about it.
    pub fn err(&self, slot: &str) -> Option<&str> {
        self.problem
            .as_ref()
            .filter(|p| p.slot == Some(slot))
            .map(|p| p.message.as_str())
    }

    /// The message at the top of the form (every refusal is said there
    /// too, for those who read from the top and for screen readers).
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_ref().map(|p| p.message.as_str())
    }
}

/// A page of several forms (the administration pages): the one that came
/// back refused, by name, with its values and message.
#[derive(Debug, Default)]
pub struct OneOfForms(pub Option<(&'static str, FormState)>);

impl OneOfForms {
    /// What form `form` sent in `name` when it was refused; empty otherwise.
    pub fn val(&self, form: &str, name: &str) -> &str {
        match &self.0 {
            Some((f, s)) if *f == form => s.val(name),
            _ => "",
        }
    }

    /// The message of form `form`, when it was the one refused.
    pub fn err(&self, form: &str) -> Option<&str> {
        match &self.0 {
            Some((f, s)) if *f == form => s.problem(),
            _ => None,
        }
    }

    pub fn is_refused(&self) -> bool {
        self.0.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli_core::msg::Msg;

    fn sent() -> HashMap<String, String> {
        [("description".to_string(), "路灯不亮".to_string())].into()
    }

    #[test]
    fn a_refused_value_is_shown_beside_its_field_in_chinese() {
        let e = AppError::invalid_msg("description", Msg::too_long(4000, 10_000));
        let f = FormState::refused(sent(), &e, Lang { en: false }).unwrap();
        assert_eq!(f.val("description"), "路灯不亮");
        assert_eq!(
            f.err("description"),
            Some("问题描述：不能超过4000个字（现有10000个字）")
        );
        assert_eq!(f.err("title"), None);
        let en = FormState::refused(sent(), &e, Lang { en: true }).unwrap();
        assert!(
            en.err("description")
                .unwrap()
                .starts_with("description: is longer")
        );
    }

    #[test]
    fn a_place_refusal_is_shown_at_the_map() {
        let e = AppError::invalid("lat", "lon and lat go together", "经度和纬度要一起填写");
        let f = FormState::refused(sent(), &e, Lang::default()).unwrap();
        assert_eq!(f.err("place"), Some("位置：经度和纬度要一起填写"));
        assert!(f.problem().is_some());
    }

    #[test]
    fn errors_that_are_not_about_the_form_are_not_shown_on_it() {
        let e = AppError::NotFound("case 9".into());
        assert!(FormState::refused(sent(), &e, Lang::default()).is_none());
        let e = AppError::forbidden("no", "不行");
        assert!(FormState::refused(sent(), &e, Lang::default()).is_none());
    }

    #[test]
    fn a_select_keeps_what_was_sent_or_its_default() {
        let fresh = FormState::default();
        assert!(fresh.is("rating", "satisfied", true));
        let e = AppError::invalid("comment", "x", "x");
        let values = [("rating".to_string(), "unsatisfied".to_string())].into();
        let f = FormState::refused(values, &e, Lang::default()).unwrap();
        assert!(f.is("rating", "unsatisfied", false));
        assert!(!f.is("rating", "satisfied", true));
    }
}
