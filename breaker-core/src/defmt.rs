//! `defmt::Format` for the types that cannot derive it (feature `defmt`): refusals, loggable
//! from a firmware's listener (`on_rejected`).

use crate::error::{LimitReached, Rejected};

impl defmt::Format for Rejected {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Rejected {{ name: {=str}, state: {}, retry_after: {} }}",
            self.name,
            self.state,
            self.retry_after()
        )
    }
}

impl defmt::Format for LimitReached {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "LimitReached {{ name: {=str}, waited: {} }}",
            self.name,
            self.waited
        )
    }
}
