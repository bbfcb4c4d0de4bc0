//! The integration tests: one binary, each test against the real server on port 0.

mod account;
mod assistants;
mod auth;
mod bookings;
mod browser;
mod budget;
mod calendar;
mod cli;
mod conversation;
mod crash;
mod durable;
mod exactly_once;
mod faults;
mod fuzz;
mod helpers;
mod holds;
mod llm;
mod llm_once;
mod openai_sdk;
mod ops;
mod props;
mod quotas;
mod redis;
mod sessions;
mod storm;
mod understanding;
