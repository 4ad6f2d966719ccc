//! Kratix's deterministic object names (`GenerateDeterministicObjectName` in
//! `lib/objectutil/name.go`), exactly: bindings, revisions and label-safe request names
//! must match what Kratix would have created, so existing objects are adopted.

use md5::{Digest, Md5};

const MAX_NAME_LENGTH: usize = 57; // 63 - 1 (separator) - 5 (suffix)
const MAX_LABEL_VALUE: usize = 63;

/// Truncates over-long names (to 56 bytes, as Kratix does) and drops trailing
/// characters that are not ASCII alphanumerics.
fn process_name(name: &str) -> &str {
    let mut n = name;
    if n.len() > MAX_NAME_LENGTH {
        let mut cut = MAX_NAME_LENGTH - 1;
        while !n.is_char_boundary(cut) {
            cut -= 1;
        }
        n = &n[..cut];
    }
    n.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
}

fn md5_prefix(input: &str) -> String {
    hex::encode(Md5::digest(input.as_bytes()))[..5].to_string()
}

/// `GenerateDeterministicObjectName(name, inputs...)`: the processed name,
/// `-`, and the first 5 hex digits of md5 over the inputs joined by `-` (or
/// over the full name when there are no inputs).
pub fn deterministic_name(name: &str, inputs: &[&str]) -> String {
    let hash_input = if inputs.is_empty() {
        name.to_string()
    } else {
        inputs.join("-")
    };
    format!("{}-{}", process_name(name), md5_prefix(&hash_input))
}

/// The name Kratix gives the binding of request `request` of `promise`.
pub fn binding_name(request: &str, promise: &str) -> String {
    deterministic_name(&format!("{request}-{promise}"), &[])
}

/// The name of the PromiseRevision of `promise` at `version` (the hash
/// covers the version only).
pub fn revision_name(promise: &str, version: &str) -> String {
    deterministic_name(promise, &[version])
}

/// A name as a label value, as Kratix makes `kratix.io/resource-name`: the
/// name when it fits in a label, else its deterministic name (kbind does
/// the same for `kratix.io/promise-name`, which Kratix copies unchecked).
pub fn label_value(name: &str) -> String {
    if name.len() <= MAX_LABEL_VALUE {
        name.to_string()
    } else {
        deterministic_name(name, &[])
    }
}

/// The `kratix.io/resource-name` label value of a request.
pub fn resource_name_label(request: &str) -> String {
    label_value(request)
}

/// A workflow Job's name: `<request>-<promise>-<action>-<run>`, or its
/// deterministic name when that is over 63 characters (the Job controller
/// copies the name into a pod-template label). The hash covers the whole
/// name, run number included, so runs of one request never share a name.
pub fn job_name(request: &str, promise: &str, action: &str, run: u64) -> String {
    label_value(&format!("{request}-{promise}-{action}-{run}"))
}

/// A container name (a DNS-1123 label) for container `name` of `pipeline`
/// when `name` alone is taken in the pod: `<pipeline>-<name>`, with any
/// character a label may not hold made `-`, cut to 63 with a hash of the
/// whole when longer; `attempt` > 0 hashes it in too, for the rare name
/// that is still taken.
pub fn prefixed_container_name(pipeline: &str, name: &str, attempt: u32) -> String {
    let raw: String = format!("{pipeline}-{name}")
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect();
    let raw = raw.trim_matches('-');
    match attempt {
        0 if raw.len() <= MAX_LABEL_VALUE => raw.to_string(),
        0 => deterministic_name(raw, &[]),
        n => deterministic_name(raw, &[raw, &n.to_string()]),
    }
}

/// The longest object name (DNS-1123 subdomain).
const MAX_NAME: usize = 253;

/// An Event's name, `<object>.<digest>` as client-go's recorder makes it,
/// with the object's name cut so the whole stays a valid name of at most
/// 253 characters (client-go's recorder fails on such objects).
pub fn event_name(object: &str, digest: &str) -> String {
    let room = MAX_NAME.saturating_sub(digest.len() + 1);
    let mut cut = object.len().min(room);
    while !object.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = object[..cut].trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{head}.{digest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kratix_examples() {
        assert_eq!(binding_name("example", "redis"), "example-redis-e7f90");
        assert_eq!(revision_name("mypromise", "v1.0.0"), "mypromise-2888c");
        assert_eq!(revision_name("redis", "v0.1.0"), "redis-77ba1");
        assert_eq!(revision_name("widget", "v2.0.0"), "widget-081a7");
        assert_eq!(revision_name("anything", "not-set"), "anything-5a7f3");
    }

    #[test]
    fn long_names_are_truncated_to_56_and_hashed_in_full() {
        let long = "a".repeat(70);
        assert_eq!(
            resource_name_label(&long),
            format!("{}-0f5c6", "a".repeat(56))
        );
        assert_eq!(resource_name_label(&long).len(), 62);
        let exactly_57 = "b".repeat(57);
        assert_eq!(deterministic_name(&exactly_57, &[]).len(), 63);
        assert_eq!(resource_name_label(&"c".repeat(63)), "c".repeat(63));
    }

    #[test]
    fn job_and_event_names_stay_within_their_limits() {
        assert_eq!(
            job_name("example", "redis", "configure", 1),
            "example-redis-configure-1"
        );
        let long = "r".repeat(120);
        let first = job_name(&long, "redis", "configure", 1);
        let second = job_name(&long, "redis", "configure", 2);
        assert!(first.len() <= 63 && second.len() <= 63, "{first}");
        assert_ne!(first, second);
        let event = event_name(&format!("{}-x", "a".repeat(250)), "0123456789abcdef");
        assert_eq!(event.len(), 253);
        assert!(event.ends_with("a.0123456789abcdef"), "{event}");
        let event = event_name(&format!("{}-b", "a".repeat(235)), "0123456789abcdef");
        assert!(
            event.ends_with("a.0123456789abcdef"),
            "trailing dash cut: {event}"
        );
        assert_eq!(event_name("example", "ff"), "example.ff");
    }

    #[test]
    fn prefixed_container_names_are_dns_labels() {
        assert_eq!(
            prefixed_container_name("first", "reader", 0),
            "first-reader"
        );
        assert_eq!(prefixed_container_name("a.b", "c", 0), "a-b-c");
        let long = prefixed_container_name(&"p".repeat(60), &"c".repeat(63), 0);
        assert!(long.len() <= 63, "{long}");
        assert_ne!(
            long,
            prefixed_container_name(&"p".repeat(60), &"c".repeat(63), 1)
        );
    }

    #[test]
    fn only_trailing_non_alphanumerics_are_stripped() {
        let name = deterministic_name("kratix-promise-1.-@$#", &[]);
        assert!(name.starts_with("kratix-promise-1-"), "{name}");
        assert_eq!(name.len(), "kratix-promise-1".len() + 6);
        assert!(deterministic_name("a.b-c", &[]).starts_with("a.b-c-"));
    }
}
