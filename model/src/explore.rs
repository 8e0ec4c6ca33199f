//! The model check: every schedule of events up to a [`Bound`], each run from the start and
//! checked by [`run`](crate::run).
//!
//! A schedule is a set of (step, event) pairs, at most one event per step. The search grows
//! each schedule it ran by one event at every later step that run reached, so every schedule
//! within the bound is run exactly once, whatever the ceremony's path length under it.

use crate::fault::Event;
use crate::world::{run, Setup, Violation};

/// How many events of each kind a schedule may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// Faults of an exchange (any [`Fault`](crate::Fault)).
    pub faults: usize,
    /// Another operator's actions.
    pub operators: usize,
    /// Leader changes.
    pub leader_changes: usize,
}

/// What a search ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Explored {
    /// Schedules run (each a whole ceremony).
    pub schedules: u64,
    /// Steps checked over all of them (requests sent, each followed by every invariant).
    pub steps: u64,
}

impl std::ops::AddAssign for Explored {
    fn add_assign(&mut self, other: Self) {
        self.schedules += other.schedules;
        self.steps += other.steps;
    }
}

/// A schedule whose run broke an invariant.
#[derive(Debug, Clone)]
pub struct Counterexample {
    /// The ceremony.
    pub setup: Setup,
    /// The events, by step.
    pub schedule: Vec<(usize, Event)>,
    /// What broke.
    pub violation: Violation,
}

impl std::fmt::Display for Counterexample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{:?} with schedule {:?}", self.setup, self.schedule)?;
        write!(f, "{}", self.violation)
    }
}

/// The seed every schedule's server draws its values from: the same for all, so that a
/// schedule's prefix runs the same way in all its extensions.
pub const SEED: u64 = 7;

/// Runs `schedule` (events by step) on `setup`.
pub fn run_schedule(
    setup: &Setup,
    schedule: &[(usize, Event)],
) -> Result<crate::Report, Violation> {
    run(setup, SEED, &mut |step| {
        schedule
            .iter()
            .find(|(at, _)| *at == step)
            .map(|(_, event)| *event)
    })
}

/// Runs every schedule within `bound` on `setup`; stops at the first that breaks an
/// invariant.
pub fn explore(setup: &Setup, bound: Bound) -> Result<Explored, Box<Counterexample>> {
    let mut explored = Explored::default();
    let mut pending: Vec<Vec<(usize, Event)>> = vec![Vec::new()];
    while let Some(schedule) = pending.pop() {
        let report = run_schedule(setup, &schedule).map_err(|violation| {
            Box::new(Counterexample {
                setup: *setup,
                schedule: schedule.clone(),
                violation,
            })
        })?;
        explored.schedules += 1;
        explored.steps += report.requests as u64;
        let count = |f: fn(&Event) -> bool| schedule.iter().filter(|(_, e)| f(e)).count();
        let faults = count(|e| e.is_fault());
        let operators = count(|e| matches!(e, Event::Operator(_)));
        let leaders = count(|e| matches!(e, Event::LeaderChange));
        let first = schedule.last().map_or(0, |(at, _)| at + 1);
        for step in first..report.requests {
            for event in Event::all() {
                let allowed = match event {
                    Event::Fault(_) => faults < bound.faults,
                    Event::Operator(_) => operators < bound.operators,
                    Event::LeaderChange => leaders < bound.leader_changes,
                };
                if allowed {
                    let mut child = schedule.clone();
                    child.push((step, event));
                    pending.push(child);
                }
            }
        }
    }
    Ok(explored)
}
