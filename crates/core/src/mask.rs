//! Masking of personal data on screen (Personal Information Protection Law):
//! show just enough to recognise a record, never enough to use it.

/// 3201**********1234: the first four and last four characters.
pub fn id_number(id: &str) -> String {
    keep_ends(id, 4, 4)
}

/// 138****5678: the first three and last four digits.
pub fn phone(p: &str) -> String {
    keep_ends(p, 3, 4)
}

fn keep_ends(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..head].iter().collect();
    out.extend(std::iter::repeat_n('*', chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(id_number("320102199001011234"), "3201**********1234");
        assert_eq!(phone("13812345678"), "138****5678");
        assert_eq!(phone("1234"), "****");
    }
}
