//! One source of "now", so tests can fix and move time.

use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};

/// A clock handle: the system clock, or a manual one for tests.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { manual: None }
    }

    /// A clock that stands still at `at` until advanced.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self {
            manual: Some(Arc::new(Mutex::new(at))),
        }
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            Some(t) => *t.lock().expect("clock lock"),
            None => Utc::now(),
        }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.manual {
            let mut t = t.lock().expect("clock lock");
            *t += by;
        }
    }
}
