//! What a 1.32 Job controller writes into the status of a one-pod Job
//! (`backoffLimit: 0`, kbind's workflow Jobs) when its pod ends. With
//! `JobManagedBy` and `JobPodReplacementPolicy` on (the 1.32 defaults) it
//! adds an interim condition (`SuccessCriteriaMet`, `FailureTarget`) before
//! the terminal one, records when the Job started and, for a success, when
//! it completed; a real server's status validation refuses a finished Job
//! without them. Whatever stands in for the Job controller (the sandbox's
//! simulated runner) writes exactly this.

use serde_json::{Value, json};

fn condition(kind: &str, reason: &str, message: &str, at: &str) -> Value {
    json!({"type": kind, "status": "True", "reason": reason, "message": message,
        "lastProbeTime": at, "lastTransitionTime": at})
}

/// The pod succeeded: `SuccessCriteriaMet` then `Complete`.
pub fn succeeded(start: &str, end: &str) -> Value {
    let message = "Reached expected number of succeeded pods";
    json!({
        "startTime": start,
        "completionTime": end,
        "succeeded": 1,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": [
            condition("SuccessCriteriaMet", "CompletionsReached", message, end),
            condition("Complete", "CompletionsReached", message, end),
        ],
    })
}

/// The pod failed and the backoff limit (0) is reached: `FailureTarget`
/// then `Failed`, no completion time.
pub fn failed_at_backoff_limit(start: &str, end: &str) -> Value {
    let message = "Job has reached the specified backoff limit";
    json!({
        "startTime": start,
        "failed": 1,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": [
            condition("FailureTarget", "BackoffLimitExceeded", message, end),
            condition("Failed", "BackoffLimitExceeded", message, end),
        ],
    })
}
