//! Query parameters as apimachinery's parameter codec reads them into a
//! request's options (`ListOptions`, `DeleteOptions`, `PatchOptions`, …):
//! booleans and integers in Go's terms.

use std::collections::HashMap;

use super::error::ApiError;

/// A boolean query parameter as apimachinery's parameter codec reads it
/// (`Convert_Slice_string_To_bool`): present and neither `0` nor `false` (in
/// any case) is true, so `watch=yes` watches.
pub fn flag(query: &HashMap<String, String>, key: &str) -> bool {
    query
        .get(key)
        .is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// An integer query parameter as the parameter codec reads it
/// (`strconv.ParseInt`); a value that is no integer is a 400 with Go's words.
pub fn integer(query: &HashMap<String, String>, key: &str) -> Result<Option<i64>, ApiError> {
    let Some(text) = query.get(key) else {
        return Ok(None);
    };
    text.parse::<i64>().map(Some).map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        ApiError::new(
            400,
            "BadRequest",
            format!("strconv.ParseInt: parsing {text:?}: {why}"),
        )
    })
}
