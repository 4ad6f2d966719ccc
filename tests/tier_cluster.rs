//! The cluster tier: kbind against a running API server — the embedded one
//! driven by kube-rs and the real kubectl, the CLI as a user runs it, the
//! operator (in process and as the deployed binary), its fault suites, the
//! end-to-end walkthrough and the user story. One test binary for the tier
//! (each file is a module), so the suite links once; `cargo test --test
//! cluster operator::` runs one file's tests.

mod support;

#[path = "apiserver_kube.rs"]
mod apiserver_kube;
#[path = "cli.rs"]
mod cli;
#[path = "deploy.rs"]
mod deploy;
#[path = "e2e.rs"]
mod e2e;
#[path = "faults.rs"]
mod faults;
#[path = "kubectl.rs"]
mod kubectl;
#[path = "operator.rs"]
mod operator;
#[path = "registry.rs"]
mod registry;
#[path = "rollout.rs"]
mod rollout;
#[path = "user_story.rs"]
mod user_story;
