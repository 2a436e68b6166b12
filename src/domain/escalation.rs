//! Escalation policies: who is notified, in which order, and how long each
//! level waits for an acknowledgement before the next. Pure: the engine
//! that runs them on the job queue asks this module what comes next.

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use super::org::Org;

/// Whom a level notifies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "type", content = "name")]
pub enum Target {
    /// Whoever is on call on this schedule at the time.
    Schedule(String),
    Person(String),
    /// The lead of this team.
    TeamLead(String),
    /// The head of this team.
    TeamHead(String),
    /// Every member of this team.
    Team(String),
}

impl Target {
    /// `schedule:payments-primary`, `person:zul`, `team_lead:payments`, …
    pub fn parse(text: &str) -> Option<Target> {
        let (kind, name) = text.split_once(':')?;
        let name = name.trim().to_string();
        if name.is_empty() {
            return None;
        }
        match kind.trim() {
            "schedule" => Some(Target::Schedule(name)),
            "person" => Some(Target::Person(name)),
            "team_lead" => Some(Target::TeamLead(name)),
            "team_head" => Some(Target::TeamHead(name)),
            "team" => Some(Target::Team(name)),
            _ => None,
        }
    }

    /// For people: `on call for payments-primary`, `lead of payments`, …
    pub fn describe(&self) -> String {
        match self {
            Target::Schedule(name) => format!("on call for {name}"),
            Target::Person(name) => name.clone(),
            Target::TeamLead(name) => format!("lead of {name}"),
            Target::TeamHead(name) => format!("head of {name}"),
            Target::Team(name) => format!("team {name}"),
        }
    }

    /// Why the target is unusable in this org, if it is.
    pub fn problem(&self, org: &Org) -> Option<String> {
        let (exists, what, name) = match self {
            Target::Schedule(name) => (org.schedule(name).is_some(), "schedule", name),
            Target::Person(name) => (org.person(name).is_some(), "person", name),
            Target::TeamLead(name) | Target::TeamHead(name) | Target::Team(name) => {
                (org.team(name).is_some(), "team", name)
            }
        };
        (!exists).then(|| format!("unknown {what} `{name}`"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Level {
    pub targets: Vec<Target>,
    /// How long to wait for an acknowledgement before the next level.
    #[schema(value_type = String)]
    pub wait: SignedDuration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EscalationPolicy {
    pub id: i64,
    pub name: String,
    pub levels: Vec<Level>,
    /// How many more times the whole policy runs when nobody acknowledges.
    pub repeat: u32,
    /// An acknowledged alert still unresolved after this escalates again.
    #[schema(value_type = Option<String>)]
    pub reescalate_after_ack: Option<SignedDuration>,
}

/// Where an escalation stands: which pass over the policy, which level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub round: u32,
    pub level: usize,
}

impl EscalationPolicy {
    pub fn first_step(&self) -> Step {
        Step { round: 0, level: 0 }
    }

    /// The step after `step`: the next level, else the first level of the
    /// next round, else `None`: nobody acknowledged, the policy is spent.
    pub fn after(&self, step: Step) -> Option<Step> {
        if step.level + 1 < self.levels.len() {
            Some(Step {
                round: step.round,
                level: step.level + 1,
            })
        } else if step.round < self.repeat {
            Some(Step {
                round: step.round + 1,
                level: 0,
            })
        } else {
            None
        }
    }

    pub fn level(&self, step: Step) -> Option<&Level> {
        self.levels.get(step.level)
    }

    /// Handles to notify at `step`, without duplicates, in target order.
    /// `on_call` answers who is on call on a schedule now.
    pub fn recipients(
        &self,
        step: Step,
        org: &Org,
        on_call: impl Fn(&str) -> Option<String>,
    ) -> Vec<String> {
        let mut recipients: Vec<String> = Vec::new();
        let Some(level) = self.level(step) else {
            return recipients;
        };
        for target in &level.targets {
            let found: Vec<String> = match target {
                Target::Schedule(name) => on_call(name).into_iter().collect(),
                Target::Person(handle) => vec![handle.clone()],
                Target::TeamLead(team) => org
                    .team(team)
                    .map(|t| vec![t.lead.clone()])
                    .unwrap_or_default(),
                Target::TeamHead(team) => org
                    .team(team)
                    .map(|t| vec![t.head.clone()])
                    .unwrap_or_default(),
                Target::Team(team) => org
                    .team(team)
                    .map(|t| t.members.clone())
                    .unwrap_or_default(),
            };
            for handle in found {
                if !recipients.contains(&handle) {
                    recipients.push(handle);
                }
            }
        }
        recipients
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::org::Team;

    fn policy(levels: usize, repeat: u32) -> EscalationPolicy {
        EscalationPolicy {
            id: 1,
            name: "p".into(),
            levels: (0..levels)
                .map(|_| Level {
                    targets: vec![],
                    wait: SignedDuration::from_mins(5),
                })
                .collect(),
            repeat,
            reescalate_after_ack: None,
        }
    }

    #[test]
    fn steps_walk_levels_then_rounds_then_stop() {
        let p = policy(3, 1);
        let mut step = p.first_step();
        let mut seen = vec![step];
        while let Some(next) = p.after(step) {
            seen.push(next);
            step = next;
        }
        let pairs: Vec<(u32, usize)> = seen.iter().map(|s| (s.round, s.level)).collect();
        assert_eq!(pairs, [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
    }

    #[test]
    fn recipients_come_from_schedules_teams_and_people_once_each() {
        let org = Org {
            teams: vec![Team {
                id: 1,
                name: "payments".into(),
                display_name: "Payments".into(),
                description: None,
                lead: "zul".into(),
                head: "hendra".into(),
                members: vec!["zul".into(), "putu".into(), "hendra".into()],
            }],
            ..Org::default()
        };
        let mut p = policy(1, 0);
        p.levels[0].targets = vec![
            Target::Schedule("payments-primary".into()),
            Target::TeamLead("payments".into()),
            Target::TeamHead("payments".into()),
            Target::Person("zul".into()),
        ];
        let on_call = |s: &str| (s == "payments-primary").then(|| "putu".to_string());
        assert_eq!(
            p.recipients(p.first_step(), &org, on_call),
            ["putu", "zul", "hendra"]
        );
        assert_eq!(
            Target::parse("team_lead:payments"),
            Some(Target::TeamLead("payments".into()))
        );
        assert_eq!(Target::parse("boss:x"), None);
        assert_eq!(
            Target::Team("nope".into()).problem(&org).as_deref(),
            Some("unknown team `nope`")
        );
    }
}
