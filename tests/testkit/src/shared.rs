//! The state shared by the accept loop, every connection and the public handles, and the
//! one way to lock it. Everything above the state imports it from here; the state and the
//! rules below it never do (they are handed `&mut State`).

use std::sync::{Arc, Mutex, MutexGuard};

use crate::state::State;

/// The state shared by the accept loop, every connection and the public handles.
pub(crate) type Shared = Arc<Mutex<State>>;

/// Lock the state. A panic in another connection task must not wedge the broker, so a
/// poisoned lock is taken over as is: every update leaves the state consistent.
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
