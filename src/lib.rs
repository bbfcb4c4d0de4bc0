//! hpcbot: the chat assistant and GPU booking service of an HPC centre.
//!
//! Layers, each knowing only the ones below it: [`domain`] (pure types and rules) ←
//! [`store`] (persistence) ← [`assistant`] (tools, built-in NLU) ← [`chat`] (the session
//! engine) ← [`server`] (HTTP). [`notify`] delivers webhooks and makes reminders (between the
//! assistant's views and the server); [`config`] reads the settings; [`transfer`] the import and
//! export files; [`ops`] tracks requests in flight.

pub mod assistant;
pub mod centre;
pub mod chat;
pub mod config;
pub mod domain;
pub mod loadtest;
pub mod notify;
pub mod ops;
pub mod server;
pub mod store;
pub mod terminal;
pub mod transfer;

pub use server::run;
