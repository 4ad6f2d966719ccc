//! YAML parsing with one-line errors. serde-saphyr's message is followed by
//! a rendered snippet of the input; a CLI error or an Event wants the first
//! line (which already names line and column).

use serde::de::DeserializeOwned;

pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_saphyr::from_str(text).map_err(|e| one_line(&e.to_string()))
}

fn one_line(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default().trim();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn errors_are_one_line_naming_the_position() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Doc {
            a: u32,
        }
        let err = super::from_str::<Doc>("a: 1\nb: 2\n").unwrap_err();
        assert!(!err.contains('\n'), "{err}");
        assert!(
            err.contains("line 2") && err.contains("unknown field `b`"),
            "{err}"
        );
    }
}
