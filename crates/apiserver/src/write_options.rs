//! The options of a write (`CreateOptions`, `UpdateOptions`, `PatchOptions`,
//! and the `dryRun` of `DeleteOptions`) as apimachinery validates them: 422
//! on `<Kind>Options.meta.k8s.io` for a bad `fieldManager`, `dryRun`,
//! `fieldValidation`, or a `force` outside an apply.

use std::collections::HashMap;

use serde_json::Value;

use super::error::ApiError;
use super::validation::{ErrorKind, FieldError};

/// `FieldManagerMaxLength`.
const FIELD_MANAGER_MAX_LENGTH: usize = 128;

/// `ValidateDryRun`: every value must be `All`.
pub fn dry_run_error(values: &[String]) -> Option<FieldError> {
    values.iter().any(|v| v != "All").then(|| {
        FieldError::not_supported("dryRun", Value::Null, &["All"]).with_string_list(values)
    })
}

/// `ValidateFieldManager`: at most 128 bytes, printable characters only.
fn field_manager_errors(manager: &str) -> Vec<FieldError> {
    let mut errs = vec![];
    if manager.len() > FIELD_MANAGER_MAX_LENGTH {
        errs.push(
            FieldError::invalid("fieldManager", manager, "")
                .with_kind(ErrorKind::TooLong(FIELD_MANAGER_MAX_LENGTH)),
        );
    }
    for (at, c) in manager.char_indices() {
        // Go's `unicode.IsPrint`: graphic characters and the ASCII space.
        if c != ' ' && (c.is_control() || c.is_whitespace()) {
            errs.push(FieldError::invalid(
                "fieldManager",
                manager,
                format!(
                    "invalid character U+{:04X} (at position {at})",
                    u32::from(c)
                ),
            ));
        }
    }
    errs
}

/// `ValidateFieldValidation`.
fn field_validation_error(value: &str) -> Option<FieldError> {
    (!["", "Ignore", "Strict", "Warn"].contains(&value)).then(|| {
        FieldError::not_supported("fieldValidation", value, &["", "Ignore", "Strict", "Warn"])
    })
}

/// `ValidateCreateOptions`, `ValidateUpdateOptions` or `ValidatePatchOptions`
/// for `kind`, on the options a write's query carries; `apply` is a
/// server-side apply patch.
pub fn validate(kind: &str, query: &HashMap<String, String>, apply: bool) -> Result<(), ApiError> {
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    let mut errs = vec![];
    if kind == "PatchOptions" {
        if !apply && query.contains_key("force") {
            errs.push(FieldError::forbidden(
                "force",
                "may not be specified for non-apply patch",
            ));
        }
        if apply && get("fieldManager").is_empty() {
            errs.push(FieldError::required(
                "fieldManager",
                "is required for apply patch",
            ));
        }
    }
    errs.extend(field_manager_errors(get("fieldManager")));
    if let Some(dry_run) = query.get("dryRun") {
        errs.extend(dry_run_error(std::slice::from_ref(dry_run)));
    }
    errs.extend(field_validation_error(get("fieldValidation")));
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid_kind(kind, "meta.k8s.io", "", errs))
    }
}
