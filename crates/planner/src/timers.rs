//! When a view must be planned again with nothing changing in the cluster:
//! the upgrade check a policy asked for, and the retries it scheduled. The
//! operator requeues at these times; the simulator's `advance` stops at
//! each of them.

use kbind_model::api::annotations;
use kbind_model::time::parse_time;

use crate::View;

/// The promise's next upgrade check (`status.nextUpgradeCheck`).
pub fn upgrade_check(view: &View) -> Option<i64> {
    let seen = view.promise.as_ref()?;
    parse_time(
        seen.promise
            .status
            .as_ref()?
            .next_upgrade_check
            .as_deref()?,
    )
    .ok()
}

/// The soonest retry of a failed workflow among the view's bindings
/// (`kbind.io/retry-at`).
pub fn retry(view: &View) -> Option<i64> {
    view.bindings
        .iter()
        .filter_map(|b| b.metadata.annotations.as_ref()?.get(annotations::RETRY_AT))
        .filter_map(|t| parse_time(t).ok())
        .min()
}

/// The soonest of both.
pub fn next(view: &View) -> Option<i64> {
    [upgrade_check(view), retry(view)]
        .into_iter()
        .flatten()
        .min()
}
