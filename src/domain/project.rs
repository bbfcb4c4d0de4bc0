//! Projects (API.md "Projects, quotas and budgets"): the group a user books for, with its
//! own budget and its own values of the quotas where the centre set them.
//!
//! Pure: the store keeps the rows, this module says what they mean. A value a project does
//! not set is the setting's: the quotas' settings are every project's defaults, and the
//! setting `budget` is the budget of `default` only (another project without one has none).

use super::money::Cents;
use super::quota::{Quota, Quotas};
use chrono::Duration;
use std::fmt;

/// The project of every owner that is not a user in another one (and of everyone with
/// `auth = none`).
pub const DEFAULT: &str = "default";

/// A project's name: 1-64 letters, digits, `-`, `_`, `.` (checked on construction).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProjectName(String);

impl ProjectName {
    /// Checks `name`.
    pub fn parse(name: &str) -> Result<Self, String> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        ok.then(|| Self(name.to_string())).ok_or_else(|| {
            format!("project name `{name}` must be 1-64 letters, digits, `-`, `_` or `.`")
        })
    }

    /// `default`.
    pub fn default_project() -> Self {
        Self(DEFAULT.to_string())
    }

    /// A name read back from the database (written checked).
    pub fn from_stored(name: String) -> Self {
        Self(name)
    }

    /// Whether this is `default`.
    pub fn is_default(&self) -> bool {
        self.0 == DEFAULT
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProjectName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The quota values a project sets for its members (`None`: the setting's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaOverrides {
    /// `max_gpus_at_once`.
    pub max_gpus_at_once: Option<u32>,
    /// `max_gpu_hours_per_week`.
    pub max_gpu_hours_per_week: Option<u32>,
    /// `max_booking_duration`.
    pub max_booking_duration: Option<Duration>,
    /// `min_notice`.
    pub min_notice: Option<Duration>,
}

impl QuotaOverrides {
    /// `base` (the settings) with this project's values in place of the ones it sets.
    pub fn applied_to(&self, base: Quotas) -> Quotas {
        Quotas {
            max_gpus_at_once: self.max_gpus_at_once.unwrap_or(base.max_gpus_at_once),
            max_gpu_hours_per_week: self
                .max_gpu_hours_per_week
                .unwrap_or(base.max_gpu_hours_per_week),
            max_booking_duration: self
                .max_booking_duration
                .unwrap_or(base.max_booking_duration),
            min_notice: self.min_notice.unwrap_or(base.min_notice),
            week_zone: base.week_zone,
        }
    }

    /// Sets one quota from its command-line form (`max_gpus_at_once=8`, `min_notice=2h`);
    /// the value `default` goes back to the setting's.
    pub fn set(&mut self, assignment: &str) -> Result<(), String> {
        let (key, value) = assignment
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| {
                format!("`{assignment}` must be QUOTA=VALUE, e.g. max_gpus_at_once=8")
            })?;
        let quota = Quota::from_key(key).ok_or_else(|| {
            format!(
                "`{key}` is not a quota; the quotas are max_gpus_at_once, max_gpu_hours_per_week, max_booking_duration and min_notice"
            )
        })?;
        let unset = value.eq_ignore_ascii_case("default");
        let count = || {
            value
                .parse::<u32>()
                .map_err(|_| format!("{key} must be a whole number, e.g. {key}=8"))
        };
        // A booking never lasts more than 30 days (the rule of every booking); a notice may
        // be up to a year.
        let duration = |positive: bool| -> Result<Duration, String> {
            let d = humantime::parse_duration(value)
                .map_err(|_| format!("{key} must be a duration like 2h or 7d, not `{value}`"))?;
            let d = Duration::from_std(d).map_err(|_| format!("{key} is too large"))?;
            if positive && d <= Duration::zero() {
                return Err(format!("{key} must be more than 0"));
            }
            let most = if positive { 30 } else { 365 };
            if d > Duration::days(most) {
                return Err(format!("{key} must be at most {most} days"));
            }
            Ok(d)
        };
        match quota {
            Quota::GpusAtOnce => self.max_gpus_at_once = if unset { None } else { Some(count()?) },
            Quota::GpuHoursPerWeek => {
                self.max_gpu_hours_per_week = if unset { None } else { Some(count()?) }
            }
            Quota::BookingDuration => {
                self.max_booking_duration = if unset { None } else { Some(duration(true)?) }
            }
            Quota::MinNotice => self.min_notice = if unset { None } else { Some(duration(false)?) },
        }
        Ok(())
    }
}

/// A project as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// Its name.
    pub name: ProjectName,
    /// Its own budget (`None`: `default` has the setting `budget`, another has none).
    pub budget: Option<Cents>,
    /// Its own quota values.
    pub quotas: QuotaOverrides,
}

impl Project {
    /// `default` as a fresh database has it: nothing of its own.
    pub fn default_project() -> Self {
        Self {
            name: ProjectName::default_project(),
            budget: None,
            quotas: QuotaOverrides::default(),
        }
    }

    /// The budget that applies, given the setting `budget`.
    pub fn budget(&self, setting: Option<Cents>) -> Option<Cents> {
        self.budget.or(setting.filter(|_| self.name.is_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(ProjectName::parse("ml-lab_2.a").is_ok());
        assert!(ProjectName::parse("").is_err());
        assert!(ProjectName::parse("a b").is_err());
        assert!(ProjectName::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn a_project_sets_only_what_it_names() {
        let mut o = QuotaOverrides::default();
        o.set("max_gpus_at_once=4").unwrap();
        o.set("min_notice = 2h").unwrap();
        let base = Quotas::default();
        let q = o.applied_to(base);
        assert_eq!(q.max_gpus_at_once, 4);
        assert_eq!(q.min_notice, Duration::hours(2));
        assert_eq!(q.max_gpu_hours_per_week, base.max_gpu_hours_per_week);
        o.set("max_gpus_at_once=default").unwrap();
        assert_eq!(o.applied_to(base).max_gpus_at_once, base.max_gpus_at_once);
        assert!(o.set("max_gpus=4").unwrap_err().contains("not a quota"));
        assert!(o.set("max_gpus_at_once=four").is_err());
        assert!(o.set("max_booking_duration=0s").is_err());
        assert!(o.set("max_booking_duration=31d").is_err());
        assert!(o.set("min_notice=31d").is_ok());
        assert!(o.set("max_gpus_at_once").is_err());
    }

    #[test]
    fn the_budget_setting_is_defaults_only() {
        let setting = Some(Cents(10_000));
        assert_eq!(Project::default_project().budget(setting), setting);
        let other = Project {
            name: ProjectName::parse("lab").unwrap(),
            ..Project::default_project()
        };
        assert_eq!(other.budget(setting), None);
        let own = Project {
            budget: Some(Cents(500)),
            ..other
        };
        assert_eq!(own.budget(setting), Some(Cents(500)));
    }
}
