//! Incidents: the durable record of an automatic rollback and its delivery to people.
//!
//! `record` drafts the evidence, `lifecycle` moves the state and fills the outbox, `outbox`
//! orders and retries deliveries, `channels` speaks each destination's wire format, and
//! `postmortem` renders a blameless draft. All but `channels::send` are pure.

pub mod channels;
pub mod lifecycle;
pub mod outbox;
pub mod postmortem;
pub mod record;

#[cfg(test)]
mod tests;
