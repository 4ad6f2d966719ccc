//! How a Kubernetes client error reads where a user sees it (an Event, a
//! condition, a log line): kube's own `Display` of an API error appends the
//! whole `Status` in Rust's debug notation, which says nothing more to a
//! user than the server's message and reason, as kubectl prints them.

use std::fmt;

/// `Display` for a [`kube::Error`]: an answer of the API server as
/// `<message> (<code> <reason>)`, anything else as kube writes it.
pub struct Text<'a>(pub &'a kube::Error);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            kube::Error::Api(status) => {
                let message = if status.message.is_empty() {
                    "the API server gave no message"
                } else {
                    &status.message
                };
                write!(f, "{message} ({}", status.code)?;
                if !status.reason.is_empty() {
                    write!(f, " {}", status.reason)?;
                }
                f.write_str(")")
            }
            other => other.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Text;

    #[test]
    fn an_api_answer_reads_as_its_message_code_and_reason() {
        let status =
            kube::core::Status::failure("namespaces \"awx\" not found", "NotFound").with_code(404);
        let text = Text(&kube::Error::Api(Box::new(status))).to_string();
        assert_eq!(text, "namespaces \"awx\" not found (404 NotFound)");
    }
}
