//! `hpcbot project ...` and `hpcbot report` (README "Running a centre"): the operator's
//! commands for projects and their use, run on the booking database directly, as
//! `hpcbot user` is. Every instance reads the rows on its next booking: nothing to restart.

use crate::domain::money::Cents;
use crate::domain::project::{Project, ProjectName, QuotaOverrides};
use crate::domain::Interval;
use crate::store::bookings::BookingStore;
use crate::store::projects::ProjectStore;
use chrono::{DateTime, Utc};
use clap::Subcommand;

/// What to do with projects.
#[derive(Subcommand, Debug)]
pub enum ProjectAction {
    /// Add a project; users join it with `hpcbot user add NAME --project P`.
    Add {
        /// Its name: letters, digits, `-`, `_`, `.`.
        name: String,
        /// Its budget in the currency, e.g. 5000 (none: unlimited).
        #[arg(long)]
        budget: Option<String>,
        /// A quota of its own, QUOTA=VALUE (max_gpus_at_once=8, max_gpu_hours_per_week=200,
        /// max_booking_duration=7d, min_notice=1h); repeat for more.
        #[arg(long = "set")]
        quotas: Vec<String>,
    },
    /// The projects with their budgets, own quotas and number of users.
    List,
    /// Change a project: only what is given changes (`--budget none` removes its budget,
    /// `--set QUOTA=default` gives a quota back to its setting).
    Set {
        /// The project.
        name: String,
        /// Its new budget, or `none`.
        #[arg(long)]
        budget: Option<String>,
        /// QUOTA=VALUE or QUOTA=default; repeat for more.
        #[arg(long = "set")]
        quotas: Vec<String>,
    },
}

/// A budget as typed: an amount of money, or `none`/`unlimited` for no budget.
pub fn parse_budget(text: &str) -> Result<Option<Cents>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    match t.trim_start_matches('$').replace(',', "").parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(Some(Cents::from_decimal(x))),
        _ => Err(format!(
            "the budget must be an amount like 5000 or 1250.50, or `none`; not `{text}`"
        )),
    }
}

/// `values` with `budget` (if given) and each `QUOTA=VALUE` applied.
fn with_changes(
    mut values: Project,
    budget: Option<&str>,
    quotas: &[String],
) -> anyhow::Result<Project> {
    if let Some(b) = budget {
        values.budget = parse_budget(b).map_err(anyhow::Error::msg)?;
    }
    for q in quotas {
        values.quotas.set(q).map_err(anyhow::Error::msg)?;
    }
    Ok(values)
}

/// Runs `hpcbot project ...`.
pub async fn project(
    store: &(impl ProjectStore + BookingStore),
    action: ProjectAction,
    currency: &str,
) -> anyhow::Result<()> {
    match action {
        ProjectAction::Add {
            name,
            budget,
            quotas,
        } => {
            let name = ProjectName::parse(&name).map_err(anyhow::Error::msg)?;
            let p = with_changes(
                Project {
                    name,
                    budget: None,
                    quotas: QuotaOverrides::default(),
                },
                budget.as_deref(),
                &quotas,
            )?;
            store.add_project(&p, Utc::now().timestamp_millis()).await?;
            println!("added project {}: {}", p.name, described(&p, currency));
        }
        ProjectAction::List => {
            println!("project\tusers\tbudget\tcommitted+spent\tquotas of its own");
            for l in store.projects().await? {
                let total = store.confirmed_total(&l.project.name).await?;
                let budget = match (l.project.budget, l.project.name.is_default()) {
                    (Some(b), _) => format!("{b} {currency}"),
                    (None, true) => "the setting `budget`".into(),
                    (None, false) => "none".into(),
                };
                println!(
                    "{}\t{}\t{budget}\t{total}\t{}",
                    l.project.name,
                    l.users,
                    quotas_text(&l.project.quotas)
                );
            }
        }
        ProjectAction::Set {
            name,
            budget,
            quotas,
        } => {
            let name = ProjectName::parse(&name).map_err(anyhow::Error::msg)?;
            let Some(old) = store.project(&name).await? else {
                anyhow::bail!(
                    "there is no project `{name}`; add it with `hpcbot project add {name}`"
                );
            };
            if budget.is_none() && quotas.is_empty() {
                anyhow::bail!(
                    "nothing to change: give --budget AMOUNT|none and/or --set QUOTA=VALUE"
                );
            }
            let p = with_changes(old, budget.as_deref(), &quotas)?;
            store.set_project(&p).await?;
            println!("project {}: {}", p.name, described(&p, currency));
        }
    }
    Ok(())
}

/// Adds each of `projects`, or replaces its values where it exists (`hpcbot import
/// --projects`).
pub async fn import_projects(
    store: &impl ProjectStore,
    projects: &[Project],
) -> anyhow::Result<()> {
    for p in projects {
        if !store.set_project(p).await? {
            store.add_project(p, Utc::now().timestamp_millis()).await?;
        }
    }
    Ok(())
}

/// "budget 5,000.00 EUR; max_gpus_at_once=8".
fn described(p: &Project, currency: &str) -> String {
    let budget = match p.budget {
        Some(b) => format!("budget {b} {currency}"),
        None if p.name.is_default() => "budget: the setting `budget`".into(),
        None => "no budget".into(),
    };
    format!("{budget}; quotas: {}", quotas_text(&p.quotas))
}

/// The quotas a project sets, as `QUOTA=VALUE` (or "the settings").
fn quotas_text(o: &QuotaOverrides) -> String {
    let hours = |d: chrono::Duration| {
        let s = d.num_seconds();
        if s % 3600 == 0 {
            format!("{}h", s / 3600)
        } else {
            format!("{}m", s / 60)
        }
    };
    let mut parts = Vec::new();
    if let Some(n) = o.max_gpus_at_once {
        parts.push(format!("max_gpus_at_once={n}"));
    }
    if let Some(n) = o.max_gpu_hours_per_week {
        parts.push(format!("max_gpu_hours_per_week={n}"));
    }
    if let Some(d) = o.max_booking_duration {
        parts.push(format!("max_booking_duration={}", hours(d)));
    }
    if let Some(d) = o.min_notice {
        parts.push(format!("min_notice={}", hours(d)));
    }
    if parts.is_empty() {
        "the settings".into()
    } else {
        parts.join(", ")
    }
}

/// Runs `hpcbot report`: what every booking used inside `[from, to)`, per group, as the
/// admin's `GET /api/admin/usage` gives it (a table, or its CSV).
pub async fn report(
    store: &impl BookingStore,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by: crate::assistant::tools::UsageGroup,
    csv: bool,
) -> anyhow::Result<String> {
    use crate::server::account::UsageRow;
    let window = Interval::new(from, to).map_err(anyhow::Error::msg)?;
    let all = store.all().await?;
    let rows: Vec<UsageRow> = crate::domain::usage::grouped(&all, &window, |b| by.key(b))
        .1
        .into_iter()
        .map(UsageRow::from)
        .collect();
    if csv {
        return Ok(crate::server::account::usage_csv(&rows));
    }
    let mut out = String::from("group\tgpu_hours\tamount\tbookings\n");
    for r in &rows {
        out.push_str(&format!(
            "{}\t{:.2}\t{:.2}\t{}\n",
            r.group,
            r.gpu_hours,
            r.amount.as_decimal(),
            r.bookings
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_are_amounts_or_none() {
        assert_eq!(parse_budget("5000"), Ok(Some(Cents(500_000))));
        assert_eq!(parse_budget("$1,250.50"), Ok(Some(Cents(125_050))));
        assert_eq!(parse_budget("none"), Ok(None));
        assert!(parse_budget("-5").is_err());
        assert!(parse_budget("lots").is_err());
    }
}
