//! On-call: who is on call now and over a range, overrides, schedule
//! quality (gaps and load), and calendar feeds.

use jiff::{SignedDuration, Timestamp};

use super::{App, Caller, Error, Result};
use crate::domain::auth::Role;
use crate::domain::event::{NewEvent, Subject};
use crate::domain::org::Org;
use crate::domain::schedule::{self, Schedule, Shift};
use crate::store::StoredOverride;

/// The longest range one request may ask about.
pub const MAX_RANGE: SignedDuration = SignedDuration::from_hours(24 * 93);
/// How far ahead schedule quality looks.
pub const QUALITY_HORIZON: SignedDuration = SignedDuration::from_hours(24 * 28);
/// How far a calendar feed reaches back and ahead.
const FEED_PAST: SignedDuration = SignedDuration::from_hours(24 * 14);
const FEED_AHEAD: SignedDuration = SignedDuration::from_hours(24 * 90);

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ScheduleView {
    pub name: String,
    pub description: Option<String>,
    pub time_zone: String,
    /// Who is on call now, and until when.
    pub on_call: Option<Shift>,
    /// The shift after this one.
    pub next: Option<Shift>,
    /// A secret iCalendar URL (path) for calendar apps.
    pub feed_url: String,
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Gap {
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Load {
    pub person: String,
    pub hours: f64,
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ScheduleDetail {
    pub name: String,
    pub description: Option<String>,
    pub time_zone: String,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    pub shifts: Vec<Shift>,
    /// Times in the range when nobody is on call.
    pub gaps: Vec<Gap>,
    /// Hours on call per person in the range.
    pub load: Vec<Load>,
    pub overrides: Vec<StoredOverride>,
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct OnCall {
    pub schedule: String,
    pub shift: Option<Shift>,
}

/// A schedule quality problem, for `config validate` and the pages.
#[derive(Clone, Debug, PartialEq)]
pub struct QualityWarning {
    pub schedule: String,
    pub message: String,
}

/// Gaps in the coming weeks, for `config validate` (overrides are not
/// known offline, so only the layers count).
pub fn quality_warnings(org: &Org, now: Timestamp) -> Vec<QualityWarning> {
    let to = now.saturating_add(QUALITY_HORIZON).unwrap_or(now);
    let mut warnings = Vec::new();
    for schedule in &org.schedules {
        let Ok(shifts) = schedule::final_shifts(&schedule.layers, &[], now, to) else {
            continue;
        };
        let gaps = schedule::gaps(&shifts, now, to);
        if let Some((first, _)) = gaps.first() {
            let total: SignedDuration = gaps
                .iter()
                .map(|(s, e)| e.duration_since(*s))
                .fold(SignedDuration::ZERO, |a, b| a + b);
            warnings.push(QualityWarning {
                schedule: schedule.name.clone(),
                message: format!(
                    "nobody is on call for {} in the next 4 weeks, {} gap(s), the first at {}",
                    human_hours(total),
                    gaps.len(),
                    first.strftime("%Y-%m-%d %H:%M UTC")
                ),
            });
        }
    }
    warnings
}

pub fn human_hours(duration: SignedDuration) -> String {
    let minutes = duration.as_secs() / 60;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

impl App {
    fn schedule_named<'a>(&self, org: &'a Org, name: &str) -> Result<&'a Schedule> {
        org.schedule(name).ok_or_else(|| {
            let suggestion =
                crate::config::closest(name, org.schedules.iter().map(|s| s.name.clone()));
            let hint = suggestion
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            Error::NotFound(format!("schedule `{name}`{hint}"))
        })
    }

    async fn shifts(
        &self,
        schedule: &Schedule,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<(Vec<Shift>, Vec<StoredOverride>)> {
        let overrides = self
            .store
            .read()
            .await?
            .overrides(Some(&schedule.name), from, to)
            .await?;
        let plain: Vec<_> = overrides.iter().map(StoredOverride::to_override).collect();
        let shifts = schedule::final_shifts(&schedule.layers, &plain, from, to)
            .map_err(|e| Error::Internal(anyhow::anyhow!("schedule {}: {e}", schedule.name)))?;
        Ok((shifts, overrides))
    }

    /// Who is on call for `schedule` at `at`, if anyone: the shift math
    /// over a minute, not the month `on_call_at` shows.
    pub async fn on_call_person(
        &self,
        schedule: &Schedule,
        at: Timestamp,
    ) -> Result<Option<String>> {
        let to = at
            .saturating_add(SignedDuration::from_mins(1))
            .unwrap_or(at);
        let (shifts, _) = self.shifts(schedule, at, to).await?;
        Ok(shifts
            .into_iter()
            .find(|s| s.start <= at && at < s.end)
            .map(|s| s.person))
    }

    /// Every schedule with who is on call now and next.
    pub async fn schedules(&self) -> Result<Vec<ScheduleView>> {
        let org = self.org_snapshot().await?;
        let now = self.clock.now();
        let ahead = now
            .saturating_add(SignedDuration::from_hours(24 * 31))
            .unwrap_or(now);
        let mut views = Vec::new();
        for schedule in &org.schedules {
            let (shifts, _) = self.shifts(schedule, now, ahead).await?;
            let current = shifts.first().filter(|s| s.start <= now).cloned();
            let next = shifts
                .iter()
                .find(|s| s.start > now || current.as_ref().is_some_and(|c| s.start >= c.end))
                .cloned();
            views.push(ScheduleView {
                name: schedule.name.clone(),
                description: schedule.description.clone(),
                time_zone: schedule.time_zone.clone(),
                on_call: current,
                next,
                feed_url: self.feed_url("schedule", &schedule.name).await?,
            });
        }
        Ok(views)
    }

    /// Who is on call over `[from, to)`, with gaps, load and overrides.
    pub async fn schedule_detail(
        &self,
        name: &str,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<ScheduleDetail> {
        let org = self.org_snapshot().await?;
        let schedule = self.schedule_named(&org, name)?;
        let from = from.unwrap_or_else(|| self.clock.now());
        let to = to.unwrap_or_else(|| {
            from.saturating_add(SignedDuration::from_hours(24 * 7))
                .unwrap_or(from)
        });
        if to <= from {
            return Err(Error::invalid(
                "invalid_range",
                "to",
                "`to` must be after `from`",
            ));
        }
        if to.duration_since(from) > MAX_RANGE {
            return Err(Error::invalid(
                "range_too_long",
                "to",
                "ask for at most 93 days at a time",
            ));
        }
        let (shifts, overrides) = self.shifts(schedule, from, to).await?;
        let gaps = schedule::gaps(&shifts, from, to)
            .into_iter()
            .map(|(start, end)| Gap { start, end })
            .collect();
        let load = schedule::load(&shifts)
            .into_iter()
            .map(|(person, duration)| Load {
                person,
                hours: (duration.as_secs_f64() / 3600.0 * 10.0).round() / 10.0,
            })
            .collect();
        Ok(ScheduleDetail {
            name: schedule.name.clone(),
            description: schedule.description.clone(),
            time_zone: schedule.time_zone.clone(),
            from,
            to,
            shifts,
            gaps,
            load,
            overrides,
        })
    }

    /// Who is on call at `at` on every schedule (nobody: `shift` is null).
    pub async fn on_call_at(&self, at: Option<Timestamp>) -> Result<Vec<OnCall>> {
        let at = at.unwrap_or_else(|| self.clock.now());
        // A window around the moment, so the whole shift is returned, not
        // just the instant asked about.
        let from = at
            .checked_sub(SignedDuration::from_hours(24 * 31))
            .unwrap_or(at);
        let to = at
            .saturating_add(SignedDuration::from_hours(24 * 31))
            .unwrap_or(at);
        let org = self.org_snapshot().await?;
        let mut on_call = Vec::new();
        for schedule in &org.schedules {
            let (shifts, _) = self.shifts(schedule, from, to).await?;
            on_call.push(OnCall {
                schedule: schedule.name.clone(),
                shift: shifts.into_iter().find(|s| s.start <= at && at < s.end),
            });
        }
        Ok(on_call)
    }

    /// Someone takes a shift for a time range (responder). A later
    /// override wins over an earlier one where they overlap.
    pub async fn create_override(
        &self,
        caller: &Caller,
        schedule: &str,
        person: &str,
        starts_at: Timestamp,
        ends_at: Timestamp,
        reason: &str,
    ) -> Result<StoredOverride> {
        caller.require(Role::Responder)?;
        let org = self.org_snapshot().await?;
        let schedule = self.schedule_named(&org, schedule)?;
        if org.person(person).is_none() {
            let suggestion =
                crate::config::closest(person, org.people.iter().map(|p| p.handle.clone()));
            let hint = suggestion
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            return Err(Error::invalid(
                "unknown_person",
                "person",
                format!("there is no person `{person}`{hint}"),
            ));
        }
        if ends_at <= starts_at {
            return Err(Error::invalid(
                "invalid_range",
                "ends_at",
                "an override must end after it starts",
            ));
        }
        if ends_at.duration_since(starts_at) > MAX_RANGE {
            return Err(Error::invalid(
                "range_too_long",
                "ends_at",
                "an override may last at most 93 days",
            ));
        }
        let now = self.clock.now();
        if ends_at <= now {
            return Err(Error::invalid(
                "invalid_range",
                "ends_at",
                "the override would end in the past",
            ));
        }
        let mut tx = self.store.write().await?;
        let same_person = tx
            .overrides(Some(&schedule.name), starts_at, ends_at)
            .await?
            .into_iter()
            .find(|o| o.person == person);
        if let Some(existing) = same_person {
            return Err(Error::Conflict(format!(
                "{person} already has override {} from {} to {} on this schedule; remove it or pick another range",
                existing.id, existing.starts_at, existing.ends_at
            )));
        }
        let created = tx
            .insert_override(
                now,
                &schedule.name,
                person,
                starts_at,
                ends_at,
                reason.trim(),
                &caller.user.email,
            )
            .await?;
        tx.append_event(
            now,
            NewEvent::new(
                &caller.actor(),
                "schedule_override.created",
                Subject::new("schedule_override", created.id),
            )
            .after(&created),
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn delete_override(&self, caller: &Caller, schedule: &str, id: i64) -> Result<()> {
        caller.require(Role::Responder)?;
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        if !tx.delete_override(schedule, id, now).await? {
            return Err(Error::NotFound(format!(
                "override {id} of schedule {schedule}"
            )));
        }
        tx.append_event(
            now,
            NewEvent::new(
                &caller.actor(),
                "schedule_override.deleted",
                Subject::new("schedule_override", id),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The secret path of a calendar feed (`schedule` or `person`).
    pub async fn feed_url(&self, kind: &str, name: &str) -> Result<String> {
        let now = self.clock.now();
        let mut tx = self.store.write().await?;
        let token = tx
            .feed_token(now, kind, name, &super::auth::random_secret())
            .await?;
        tx.commit().await?;
        Ok(format!("/calendar/{token}.ics"))
    }

    /// The iCalendar text behind a feed token; `None` for unknown tokens.
    pub async fn calendar(&self, token: &str) -> Result<Option<String>> {
        let Some((kind, name)) = self.store.read().await?.feed_by_token(token).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let from = now.checked_sub(FEED_PAST).unwrap_or(now);
        let to = now.saturating_add(FEED_AHEAD).unwrap_or(now);
        let org = self.org_snapshot().await?;
        match kind.as_str() {
            "schedule" => {
                let Some(schedule) = org.schedule(&name) else {
                    return Ok(None);
                };
                let (shifts, _) = self.shifts(schedule, from, to).await?;
                Ok(Some(schedule::to_ical(
                    &schedule.name,
                    &format!("schedule-{}", schedule.name),
                    &shifts,
                    now,
                )))
            }
            "person" => {
                let mut mine = Vec::new();
                for schedule in &org.schedules {
                    let (shifts, _) = self.shifts(schedule, from, to).await?;
                    mine.extend(
                        shifts
                            .into_iter()
                            .filter(|s| s.person == name)
                            .map(|mut s| {
                                s.person = format!("{} ({})", name, schedule.name);
                                s
                            }),
                    );
                }
                mine.sort_by_key(|s| s.start);
                Ok(Some(schedule::to_ical(
                    &format!("{name} on call"),
                    &format!("person-{name}"),
                    &mine,
                    now,
                )))
            }
            _ => Ok(None),
        }
    }
}
