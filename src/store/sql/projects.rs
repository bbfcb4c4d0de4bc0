//! Projects in the SQL store: rows of `projects`, one per project, `users.project` naming
//! each user's. An owner that is no user (everyone with `auth = none`) is in `default`.

use super::SqlStore;
use crate::domain::money::Cents;
use crate::domain::project::{Project, ProjectName, QuotaOverrides};
use crate::domain::Owner;
use crate::store::bookings::StoreError;
use crate::store::projects::{ProjectListing, ProjectStore};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

/// The columns [`project_of_row`] reads.
const PROJECT_COLUMNS: &str = "p.name, p.budget_cents, p.max_gpus_at_once, \
     p.max_gpu_hours_per_week, p.max_booking_secs, p.min_notice_secs";

fn project_of_row(r: &AnyRow) -> Result<Project, StoreError> {
    let count = |c: &str| -> Result<Option<u32>, StoreError> {
        Ok(r.try_get::<Option<i64>, _>(c)?
            .map(|n| n.clamp(0, u32::MAX as i64) as u32))
    };
    let secs = |c: &str| -> Result<Option<chrono::Duration>, StoreError> {
        Ok(r.try_get::<Option<i64>, _>(c)?
            .map(chrono::Duration::seconds))
    };
    Ok(Project {
        name: ProjectName::from_stored(r.try_get("name")?),
        budget: r.try_get::<Option<i64>, _>("budget_cents")?.map(Cents),
        quotas: QuotaOverrides {
            max_gpus_at_once: count("max_gpus_at_once")?,
            max_gpu_hours_per_week: count("max_gpu_hours_per_week")?,
            max_booking_duration: secs("max_booking_secs")?,
            min_notice: secs("min_notice_secs")?,
        },
    })
}

/// The user name an owner is, if it is a user (`user:<name>`).
fn user_name(owner: &Owner) -> Option<&str> {
    owner.as_str().strip_prefix("user:")
}

/// The project `owner` books for: a user's, else `default` (also when a user's project row
/// is missing, which `hpcbot` never leaves).
pub(super) async fn project_of<'c, E>(ex: E, owner: &Owner) -> Result<Project, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let Some(user) = user_name(owner) else {
        return by_name(ex, &ProjectName::default_project())
            .await
            .map(|p| p.unwrap_or_else(Project::default_project));
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.name = \
         COALESCE((SELECT u.project FROM users u WHERE u.name = $1), 'default')"
    )))
    .bind(user.to_string())
    .fetch_optional(ex)
    .await?;
    row.as_ref()
        .map(project_of_row)
        .transpose()
        .map(|p| p.unwrap_or_else(Project::default_project))
}

async fn by_name<'c, E>(ex: E, name: &ProjectName) -> Result<Option<Project>, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.name = $1"
    )))
    .bind(name.as_str().to_string())
    .fetch_optional(ex)
    .await?;
    row.as_ref().map(project_of_row).transpose()
}

/// The values of `p` as bound after its name: budget, then the four quotas.
fn bind_values<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    p: &Project,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let o = &p.quotas;
    q.bind(p.budget.map(|c| c.0))
        .bind(o.max_gpus_at_once.map(i64::from))
        .bind(o.max_gpu_hours_per_week.map(i64::from))
        .bind(o.max_booking_duration.map(|d| d.num_seconds()))
        .bind(o.min_notice.map(|d| d.num_seconds()))
}

#[async_trait]
impl ProjectStore for SqlStore {
    async fn add_project(&self, project: &Project, now_ms: i64) -> Result<(), StoreError> {
        self.bounded(async {
            let q = sqlx::query(
                "INSERT INTO projects (name, budget_cents, max_gpus_at_once, max_gpu_hours_per_week, \
                 max_booking_secs, min_notice_secs, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(project.name.as_str().to_string());
            let added = bind_values(q, project)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
            if added.rows_affected() == 0 {
                return Err(StoreError::Invalid(format!(
                    "project `{}` exists already; change it with `hpcbot project set`",
                    project.name
                )));
            }
            Ok(())
        })
        .await
    }

    async fn set_project(&self, project: &Project) -> Result<bool, StoreError> {
        self.bounded(async {
            let q = sqlx::query(
                "UPDATE projects SET budget_cents = $2, max_gpus_at_once = $3, \
                 max_gpu_hours_per_week = $4, max_booking_secs = $5, min_notice_secs = $6 \
                 WHERE name = $1",
            )
            .bind(project.name.as_str().to_string());
            let n = bind_values(q, project).execute(&self.pool).await?;
            Ok(n.rows_affected() > 0)
        })
        .await
    }

    async fn project(&self, name: &ProjectName) -> Result<Option<Project>, StoreError> {
        self.bounded(by_name(&self.pool, name)).await
    }

    async fn projects(&self) -> Result<Vec<ProjectListing>, StoreError> {
        self.bounded(async {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {PROJECT_COLUMNS}, (SELECT COUNT(*) FROM users u WHERE u.project = p.name) \
                 AS users FROM projects p ORDER BY p.name"
            )))
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(ProjectListing {
                        project: project_of_row(r)?,
                        users: r.try_get::<i64, _>("users")?.max(0) as u64,
                    })
                })
                .collect()
        })
        .await
    }

    async fn set_user_project(
        &self,
        user: &str,
        project: &ProjectName,
    ) -> Result<bool, StoreError> {
        self.bounded(async {
            if by_name(&self.pool, project).await?.is_none() {
                return Err(no_project(project));
            }
            let n = sqlx::query("UPDATE users SET project = $1 WHERE name = $2")
                .bind(project.as_str().to_string())
                .bind(user.to_string())
                .execute(&self.pool)
                .await?;
            Ok(n.rows_affected() > 0)
        })
        .await
    }
}

/// The error for a project that is not there.
pub(super) fn no_project(name: &ProjectName) -> StoreError {
    StoreError::Invalid(format!(
        "there is no project `{name}`; add it first with `hpcbot project add {name}`"
    ))
}

impl SqlStore {
    /// Whether project `name` exists.
    pub(super) async fn project_exists(&self, name: &ProjectName) -> Result<bool, StoreError> {
        Ok(by_name(&self.pool, name).await?.is_some())
    }
}
