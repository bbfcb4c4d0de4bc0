//! Where projects live (API.md "Projects, quotas and budgets"): `hpcbot project add/list/set`
//! write here; every write of a booking reads its owner's project from the same rows.

use super::bookings::StoreError;
use crate::domain::project::{Project, ProjectName};
use async_trait::async_trait;

/// A project as listed: its values and how many users are in it.
#[derive(Debug, Clone)]
pub struct ProjectListing {
    /// The project.
    pub project: Project,
    /// Users in it.
    pub users: u64,
}

/// The projects of a booking database.
#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// Adds a project (`Invalid` when one of that name exists).
    async fn add_project(&self, project: &Project, now_ms: i64) -> Result<(), StoreError>;
    /// Replaces a project's budget and quota values (`false`: no such project).
    async fn set_project(&self, project: &Project) -> Result<bool, StoreError>;
    /// One project, if it exists.
    async fn project(&self, name: &ProjectName) -> Result<Option<Project>, StoreError>;
    /// Every project, by name.
    async fn projects(&self) -> Result<Vec<ProjectListing>, StoreError>;
    /// Moves a user to `project` (`false`: no such user). Their bookings stay where they
    /// were made; new ones count in `project`.
    async fn set_user_project(&self, user: &str, project: &ProjectName)
        -> Result<bool, StoreError>;
}
