//! The import/export files: `gpu_inventory.json`, `bookings.json` and `projects.json`
//! (schemas in README).

use crate::domain::booking::BookingStatus;
use crate::domain::gpu::InventoryFile;
use crate::domain::{Booking, BookingId, Cents, Device, Interval, Inventory, Owner, ProjectName};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A booking as written in `bookings.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingRecord {
    /// 32 hex digits.
    pub id: String,
    /// `session:<id>` or `user:<name>`.
    pub owner: String,
    /// Model name, as in the inventory.
    pub model: String,
    /// Must equal the number of `gpus`.
    pub count: u32,
    /// RFC 3339.
    pub start: DateTime<Utc>,
    /// RFC 3339, after start.
    pub end: DateTime<Utc>,
    /// `node:index` devices.
    pub gpus: Vec<String>,
    /// Decimal amount.
    pub price_total: f64,
    /// `confirmed`, `cancelled`, or `ended` (cancelled after it started: the time used is
    /// charged).
    pub status: String,
    /// RFC 3339.
    pub created_at: DateTime<Utc>,
    /// The recurring series it belongs to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_id: Option<String>,
    /// The project it was booked for (absent in files of older versions: `default`).
    #[serde(default = "default_project")]
    pub project: String,
}

fn default_project() -> String {
    crate::domain::project::DEFAULT.to_string()
}

/// The file form of `bookings.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingsFile {
    /// Every booking.
    pub bookings: Vec<BookingRecord>,
}

/// Parses and checks `gpu_inventory.json`; errors name the line/column or the field.
pub fn parse_inventory(text: &str) -> Result<Inventory, String> {
    let file: InventoryFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Inventory::from_file(file)
}

/// Parses `bookings.json` into bookings; errors name the line/column or the record.
pub fn parse_bookings(text: &str) -> Result<Vec<Booking>, String> {
    let file: BookingsFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    file.bookings
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let at = |field: &str, e: String| format!("bookings[{i}].{field}: {e}");
            let gpus = r
                .gpus
                .iter()
                .map(|g| Device::parse(g))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| at("gpus", e))?;
            if gpus.len() != r.count as usize {
                return Err(at(
                    "count",
                    format!("{} does not match the {} gpus listed", r.count, gpus.len()),
                ));
            }
            Ok(Booking {
                id: BookingId::parse(&r.id).map_err(|e| at("id", e.to_string()))?,
                owner: Owner::from_stored(r.owner),
                model: r.model,
                gpus,
                interval: Interval::new(r.start, r.end).map_err(|e| at("end", e))?,
                price_total: Cents::from_decimal(r.price_total),
                status: match r.status.as_str() {
                    "ended" => BookingStatus::Ended,
                    s => BookingStatus::parse(s).ok_or_else(|| {
                        at(
                            "status",
                            format!("`{}` must be confirmed, cancelled or ended", r.status),
                        )
                    })?,
                },
                created_at: r.created_at,
                series: r
                    .series_id
                    .as_deref()
                    .map(crate::domain::series::SeriesId::parse)
                    .transpose()
                    .map_err(|e| at("series_id", e.to_string()))?,
                project: ProjectName::parse(&r.project).map_err(|e| at("project", e))?,
            })
        })
        .collect()
}

/// The file form of bookings.
pub fn bookings_file(bookings: &[Booking]) -> BookingsFile {
    BookingsFile {
        bookings: bookings
            .iter()
            .map(|b| BookingRecord {
                id: b.id.to_string(),
                owner: b.owner.as_str().to_string(),
                model: b.model.clone(),
                count: b.count(),
                start: b.interval.start(),
                end: b.interval.end(),
                gpus: b.gpus.iter().map(|d| d.to_string()).collect(),
                price_total: b.price_total.as_decimal(),
                status: match b.status {
                    BookingStatus::Ended => "ended".to_string(),
                    s => s.as_str().to_string(),
                },
                created_at: b.created_at,
                series_id: b.series.as_ref().map(|s| s.to_string()),
                project: b.project.to_string(),
            })
            .collect(),
    }
}

/// A project as written in `projects.json`: `null` (or absent) is "not set by the
/// project" (a quota is then its setting's; the budget of `default` the setting `budget`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectRecord {
    /// Its name.
    pub name: String,
    /// Decimal amount.
    #[serde(default)]
    pub budget: Option<f64>,
    /// GPUs at once.
    #[serde(default)]
    pub max_gpus_at_once: Option<u32>,
    /// GPU-hours a week.
    #[serde(default)]
    pub max_gpu_hours_per_week: Option<u32>,
    /// A humantime duration (`7days`).
    #[serde(default)]
    pub max_booking_duration: Option<String>,
    /// A humantime duration (`1h`).
    #[serde(default)]
    pub min_notice: Option<String>,
}

/// The file form of `projects.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectsFile {
    /// Every project.
    pub projects: Vec<ProjectRecord>,
}

/// The file form of projects.
pub fn projects_file(projects: &[crate::domain::Project]) -> ProjectsFile {
    let duration = |d: Option<chrono::Duration>| {
        d.and_then(|d| d.to_std().ok())
            .map(|d| humantime::format_duration(d).to_string())
    };
    ProjectsFile {
        projects: projects
            .iter()
            .map(|p| ProjectRecord {
                name: p.name.to_string(),
                budget: p.budget.map(Cents::as_decimal),
                max_gpus_at_once: p.quotas.max_gpus_at_once,
                max_gpu_hours_per_week: p.quotas.max_gpu_hours_per_week,
                max_booking_duration: duration(p.quotas.max_booking_duration),
                min_notice: duration(p.quotas.min_notice),
            })
            .collect(),
    }
}

/// Parses and checks `projects.json`; errors name the line/column or the record and field.
pub fn parse_projects(text: &str) -> Result<Vec<crate::domain::Project>, String> {
    let file: ProjectsFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    file.projects
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let at = |field: &str, e: String| format!("projects[{i}].{field}: {e}");
            let mut quotas = crate::domain::project::QuotaOverrides {
                max_gpus_at_once: r.max_gpus_at_once,
                max_gpu_hours_per_week: r.max_gpu_hours_per_week,
                ..Default::default()
            };
            for (key, value) in [
                ("max_booking_duration", &r.max_booking_duration),
                ("min_notice", &r.min_notice),
            ] {
                if let Some(v) = value {
                    quotas.set(&format!("{key}={v}")).map_err(|e| at(key, e))?;
                }
            }
            Ok(crate::domain::Project {
                name: ProjectName::parse(&r.name).map_err(|e| at("name", e))?,
                budget: match r.budget {
                    Some(b) if !(b.is_finite() && b >= 0.0) => {
                        return Err(at("budget", format!("{b} is not an amount of 0 or more")))
                    }
                    b => b.map(Cents::from_decimal),
                },
                quotas,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_line_and_field() {
        let e = parse_inventory("{\n \"models\": [\n  {\"model\": \"X\", \"memory_gb\": 8}\n ]\n}")
            .unwrap_err();
        assert!(e.contains("missing field") && e.contains("line 3"), "{e}");
        let text = r#"{"bookings": [{"id": "zz", "owner": "o", "model": "A100-80GB", "count": 1,
            "start": "2026-12-01T09:00:00Z", "end": "2026-12-01T10:00:00Z", "gpus": ["ampere-01:0"],
            "price_total": 1.0, "status": "confirmed", "created_at": "2026-11-01T00:00:00Z"}]}"#;
        assert!(parse_bookings(text)
            .unwrap_err()
            .starts_with("bookings[0].id"));
    }
}
